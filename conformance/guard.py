"""The target's health across the run, shared by the controller and every xdist worker: crash attribution.

The controller sets up the target once (``--target``, or the embedded reference server it starts), runs the
preflight and the relay contract probe, and writes :class:`SharedState` (a small JSON file plus a lock file in a
directory every worker gets through ``workerinput``). Workers then run cases against that one target:

- every case runs under a shared lock and is followed by a health probe (a new connection and handshake,
  :func:`conformance.preflight.probe`; after a restart the target must pass the whole preflight again);
- when the probe fails (or the target was restarted while the case ran), the worker takes the lock exclusively:
  the other workers finish their current case and wait. If the target really stopped serving:
  - it is restarted when it can be (the embedded server, or ``--restart-cmd``) and the case runs again, alone, on
    the fresh target. If that run stops the target again, the case is the crash: FAIL "the server stopped serving
    during this case" with its wire log. Otherwise its verdict is that of the lone run (another case, running at
    the same time on another worker, stopped the target; it gets the same treatment). So one run names every
    crashing case once;
  - without a restart the case is the crash (the cases running at the same time on other workers are named in
    it) and every later case is reported as not run: "target down since case X".
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from harness.process import log_tail, stop_process

from .driver import Target
from .preflight import Health, probe
from .target import TargetError, embedded_server, restart_command, start_embedded
from .verdicts import Outcome, Verdict

STATE_FILE = "state.json"


class SharedState:
    """``state.json`` + ``lock`` in one directory; readers and writers hold the lock."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "running").mkdir(exist_ok=True)
        self._fd: int | None = None
        self._mode = 0

    # -- lock ------------------------------------------------------------------------------------------------
    def _lockfd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def lock(self, exclusive: bool) -> None:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if self._mode == mode:
            return
        if self._mode:
            fcntl.flock(self._lockfd(), fcntl.LOCK_UN)
        fcntl.flock(self._lockfd(), mode)
        self._mode = mode

    def unlock(self) -> None:
        if self._mode:
            fcntl.flock(self._lockfd(), fcntl.LOCK_UN)
            self._mode = 0

    @contextmanager
    def exclusive(self):
        before = self._mode
        self.lock(True)
        try:
            yield
        finally:
            if before == fcntl.LOCK_SH:
                self.lock(False)
            else:
                self.unlock()

    def close(self) -> None:
        self.unlock()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- data ------------------------------------------------------------------------------------------------
    def read(self) -> dict:
        try:
            return json.loads((self.dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def write(self, data: dict) -> None:
        tmp = self.dir / f".{STATE_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, self.dir / STATE_FILE)

    def update(self, fn: Callable[[dict], None]) -> dict:
        with self.exclusive():
            data = self.read()
            fn(data)
            self.write(data)
            return data

    def set_running(self, worker: str, case_id: str | None) -> None:
        p = self.dir / "running" / worker
        if case_id is None:
            p.unlink(missing_ok=True)
        else:
            p.write_text(case_id)

    def running(self, but: str = "") -> dict[str, str]:
        out = {}
        for p in (self.dir / "running").iterdir():
            if p.name != but:
                try:
                    out[p.name] = p.read_text()
                except OSError:
                    pass
        return out


def target_to_json(t: Target) -> dict:
    return {"host": t.host, "port": t.port, "app": t.app, "tls": t.tls, "tls_insecure": t.tls_insecure,
            "label": t.label}


def target_from_json(d: dict) -> Target:
    return Target(d["host"], int(d["port"]), d.get("app", "live"), bool(d.get("tls")), bool(d.get("tls_insecure")),
                  d.get("label", ""))


class TargetDown(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


def not_run(down: dict) -> Outcome:
    return Outcome(Verdict.NOT_RUN, f"not run: target down since case {down['since']} ({down['detail']})",
                   notes=["the target stopped serving and could not be restarted (give --restart-cmd to go on)"])


def restart(state: SharedState, data: dict, why: str) -> tuple[bool, str]:
    """Restart the target (the caller holds the lock exclusively). Updates ``data`` (target, generation, pids)."""
    r = data.get("restart") or {}
    step = float(data.get("step_timeout", 3.0))
    n = len(data.setdefault("restarts", [])) + 1
    log = state.dir / f"restart-{n}.log"
    target = target_from_json(data["target"])
    t0 = time.monotonic()
    if r.get("kind") == "embedded":
        server = embedded_server(r.get("command"), log=log, control=r.get("control"))
        try:
            host, port = start_embedded(server)
        except TargetError as exc:
            data["restarts"].append({"why": why, "ok": False, "detail": str(exc), "log": str(log)})
            return False, str(exc)
        target.host, target.port = host, port
        target.label = f"{server.scheme}://{host}:{port}/{target.app}"
        pid = server.detach()  # stopped by the controller at the end of the run (stop_all), not by this object
    elif r.get("kind") == "command":
        cmd = restart_command(r["command"], log=log)
        timeout = float(r.get("timeout", 30.0))
        cmd.start()
        proc = cmd.proc
        pid = cmd.detach()
        deadline = time.monotonic() + timeout
        health = None
        while time.monotonic() < deadline:
            health = probe(target, min(step, 2.0), label="restart")
            if health.ok:
                break
            code = proc.poll()
            if code not in (None, 0):
                break
            time.sleep(0.1)
        if health is None or not health.ok:
            code = proc.poll()
            detail = (f"--restart-cmd {r['command']!r} " + (f"exited with status {code}" if code not in (None, 0)
                      else f"did not bring the target back within {timeout:g} s") +
                      (f" (probe: {health.reason})" if health else "") + f"; its output: "
                      f"{' | '.join(log_tail(log, 6)) or '(none)'}")
            data["restarts"].append({"why": why, "ok": False, "detail": detail, "pid": pid, "log": str(log)})
            return False, detail
    else:
        return False, "the target cannot be restarted (no --restart-cmd)"
    health = probe(target, step, label="restart")
    if not health.ok:
        detail = f"after the restart the target still does not serve: {health.reason}"
        data["restarts"].append({"why": why, "ok": False, "detail": detail, "pid": pid, "log": str(log)})
        return False, detail
    data["target"] = target_to_json(target)
    data["generation"] = int(data.get("generation", 0)) + 1
    data["restarts"].append({"why": why, "ok": True, "pid": pid, "log": str(log),
                             "seconds": round(time.monotonic() - t0, 2), "target": target.url})
    return True, f"restarted in {time.monotonic() - t0:.1f} s ({target.url})"


def stop_all(data: dict) -> None:
    """Stop every process the run's restarts started (the controller calls this once the workers are done)."""
    for r in data.get("restarts", []):
        if r.get("pid"):
            stop_process(int(r["pid"]))


class Guard:
    """One per process: wraps every case (see the module docstring)."""

    def __init__(self, state: SharedState, worker: str) -> None:
        self.state = state
        self.worker = worker
        self.generation = 0

    def target(self) -> tuple[Target, dict]:
        data = self.state.read()
        return target_from_json(data["target"]), data

    def begin(self, case_id: str) -> tuple[Target, dict]:
        """Shared lock for the case; the current target. Raises :class:`TargetDown` when it is down for good."""
        self.state.lock(False)
        data = self.state.read()
        if data.get("down"):
            self.state.unlock()
            raise TargetDown(not_run(data["down"]))
        self.generation = int(data.get("generation", 0))
        self.state.set_running(self.worker, case_id)
        return target_from_json(data["target"]), data

    def end(self) -> None:
        self.state.set_running(self.worker, None)
        self.state.unlock()

    def after(self, case_id: str, outcome: Outcome, log, step_timeout: float,
              rerun: Callable[[Target], tuple[Outcome, object]]) -> tuple[Outcome, object]:
        """Health probe after a case; recovery when the target stopped serving. Returns the outcome and the wire
        log (or context) of the run the verdict comes from. Call with the shared lock held (``begin``)."""
        target, data = self.target()
        health = probe(target, step_timeout, label="health", connect=False)
        if health.ok and int(data.get("generation", 0)) == self.generation:
            return outcome, log
        # exclusive: the other workers finish their current case and wait
        self.state.set_running(self.worker, None)
        others = self.state.running(but=self.worker)
        with self.state.exclusive():
            data = self.state.read()
            if data.get("down"):
                return not_run(data["down"]), log
            target = target_from_json(data["target"])
            moved = int(data.get("generation", 0)) != self.generation
            now = probe(target, step_timeout, label="health", connect=False)
            if now.ok and not moved:  # a passing hiccup (e.g. the target was busy with another worker's case)
                outcome.notes.append(f"a health probe after this case failed ({health.reason}); a second one, with "
                                     "no other case running, passed")
                return outcome, log
            if not now.ok:
                if not (data.get("restart") or {}).get("kind"):
                    self._crashed(data, case_id, now, others, restarted=False, why="")
                    return crash_outcome(case_id, outcome, now, others, restarted=False), log
                ok, how = restart(self.state, data, f"stopped serving during {case_id}")
                if not ok:
                    self._crashed(data, case_id, now, others, restarted=False, why=how)
                    return crash_outcome(case_id, outcome, now, others, restarted=False), log
                self.state.write(data)
                note = f"the target stopped serving while this case ran ({now.reason}); it was restarted ({how})"
            else:
                note = "the target was restarted while this case ran (another case had stopped it)"
            # the case again, alone, on the fresh target
            target = target_from_json(data["target"])
            self.generation = int(data.get("generation", 0))
            out2, log2 = rerun(target)
            after2 = probe(target, step_timeout, label="health", connect=False)
            if after2.ok:
                out2.notes.append(f"{note}; this verdict comes from a second run of the case, alone on the fresh "
                                  f"target, which kept serving (first run: {outcome.verdict.value})")
                return out2, log2
            ok, how = restart(self.state, data, f"stopped serving during {case_id} (run alone)")
            self._crashed(data, case_id, after2, {}, restarted=ok, why="" if ok else how, alone=True)
            crash = crash_outcome(case_id, out2, after2, {}, restarted=ok)
            crash.notes.insert(0, f"{note}; run again alone, the case stopped it again")
            return crash, log2

    def _crashed(self, data: dict, case_id: str, health: Health, others: dict, *, restarted: bool, why: str,
                 alone: bool = False) -> None:
        data.setdefault("crashes", []).append(
            {"case": case_id, "detail": health.reason, "worker": self.worker, "concurrent": others,
             "restarted": restarted, "reproduced_alone": alone})
        if not restarted:
            data["down"] = {"since": case_id, "detail": health.reason + (f"; restart failed: {why}" if why else ""),
                            "worker": self.worker}
        else:
            self.generation = int(data.get("generation", 0))
        self.state.write(data)


def crash_outcome(case_id: str, outcome: Outcome, health: Health, others: dict, *, restarted: bool) -> Outcome:
    notes = [f"the case itself ended with {outcome.verdict.value}" + (f": {outcome.detail}" if outcome.detail
                                                                       else "")]
    if others:
        notes.append("also running at that moment on other workers: "
                     + ", ".join(f"{c} ({w})" for w, c in sorted(others.items()))
                     + " (without --restart-cmd the battery cannot tell which one stopped the target)")
    if restarted:
        notes.append("the target was restarted and the run went on")
    return Outcome(Verdict.FAIL, "the server stopped serving during this case",
                   "the server keeps serving new connections after the case",
                   f"health probe after the case: {health.reason}", outcome.behaviour, outcome.evidence,
                   hard=True, notes=notes + outcome.notes, crash=True)
