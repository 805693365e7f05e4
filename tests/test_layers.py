"""The layers of docs/design.md, enforced on the import graph of the source (every import statement, also those
inside functions): which package may import which, no import circle between modules, no module importing another
module's private name, and no I/O in the sans-I/O core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rtmpspec", "harness", "reference_server", "conformance", "fuzz")
TOOLS = ("bench", "golden")  # scripts, not packages: their imports count by directory
# who may import whom (docs/design.md, "Layers"); tests may import anything
ALLOWED = {
    "rtmpspec": set(),
    "harness": {"rtmpspec"},
    "reference_server": {"rtmpspec"},
    "conformance": {"rtmpspec", "harness"},
    "fuzz": {"rtmpspec", "harness"},
    "bench": {"rtmpspec", "harness", "fuzz"},
    "golden": {"rtmpspec", "tests"},  # vectors from real tools are captured with the tests' peer helpers
}
NO_IO = ("socket", "ssl", "select", "selectors", "asyncio", "threading", "subprocess", "multiprocessing")
TEST_MODULES = {p.stem for p in (ROOT / "tests").glob("*.py")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] in TOOLS or parts[0] == "tests":
        return f"{parts[0]}.{parts[-1]}"  # flat script directories
    name = ".".join(parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _sources() -> dict[str, Path]:
    out = {}
    for top in (*PACKAGES, *TOOLS, "tests"):
        for p in sorted((ROOT / top).rglob("*.py")):
            out[_module_name(p)] = p
    return out


SOURCES = _sources()


def _imports(mod: str, path: Path):
    """(imported module, names imported from it, line) for every import in ``path``."""
    is_pkg = path.name == "__init__.py"
    top = mod.split(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif top in (*TOOLS, "tests") and node.module and node.module.split(".")[0] in TEST_MODULES | {
                    p.stem for p in (ROOT / top).glob("*.py")}:
                # a sibling script (golden/_common.py, tests/peers.py) or a test helper from golden
                sib = node.module.split(".")[0]
                target = f"{top}.{sib}" if f"{top}.{sib}" in SOURCES else f"tests.{sib}"
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in SOURCES:
                    yield sub, [], node.lineno
                else:
                    yield target, [a.name], node.lineno


def _ours(name: str) -> str | None:
    """The source module ``name`` refers to (the longest prefix that is one), or None (stdlib, third party)."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


GRAPH: dict[str, set[str]] = {}
IMPORTED_NAMES: list[tuple[str, str, str, int]] = []  # importer, module, name, line
EXTERNAL: dict[str, set[str]] = {}
for _m, _p in SOURCES.items():
    GRAPH[_m] = set()
    EXTERNAL[_m] = set()
    for _target, _names, _line in _imports(_m, _p):
        _t = _ours(_target)
        if _t is None:
            EXTERNAL[_m].add(_target.split(".")[0])
            continue
        if _t != _m:
            GRAPH[_m].add(_t)
        IMPORTED_NAMES.extend((_m, _t, n, _line) for n in _names)


def _layer(mod: str) -> str:
    return mod.split(".")[0]


def test_the_graph_sees_the_project():
    assert len(SOURCES) > 150 and {"rtmpspec.connection", "harness.process", "conformance.driver"} <= set(GRAPH)
    assert "rtmpspec.chunkreader" in GRAPH["rtmpspec.connection"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str):
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if _layer(m) == layer for t in ts
                 if _layer(t) != layer and _layer(t) not in ALLOWED[layer])
    assert not bad, "imports across layers that docs/design.md does not allow:\n" + "\n".join(bad)


def test_the_battery_and_the_fuzzer_never_import_the_reference_server():
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if _layer(m) in ("conformance", "fuzz", "harness")
                 for t in ts if _layer(t) == "reference_server")
    assert not bad, bad


def test_no_import_circle():
    """The strongly connected components of the module graph (Kosaraju, iterative): every one is one module."""
    order: list[str] = []
    seen: set[str] = set()
    for root in GRAPH:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(sorted(GRAPH[root])))]
        while stack:
            v, it = stack[-1]
            w = next(it, None)
            if w is None:
                stack.pop()
                order.append(v)
            elif w not in seen:
                seen.add(w)
                stack.append((w, iter(sorted(GRAPH[w]))))
    reverse: dict[str, set[str]] = {v: set() for v in GRAPH}
    for v, ws in GRAPH.items():
        for w in ws:
            reverse[w].add(v)
    done: set[str] = set()
    circles = []
    for v in reversed(order):
        if v in done:
            continue
        comp, todo = [], [v]
        done.add(v)
        while todo:
            x = todo.pop()
            comp.append(x)
            for y in reverse[x] - done:
                done.add(y)
                todo.append(y)
        if len(comp) > 1:
            circles.append(sorted(comp))
    assert not circles, f"import circles: {circles}"


def test_no_module_imports_a_private_name_of_another():
    """``from x import _name`` only within x itself; a private module (``_state``) only from its own package
    (tests may test a package's private modules)."""
    bad = [f"{m}:{line} imports {name} from {t}" for m, t, name, line in IMPORTED_NAMES
           if name.startswith("_") and not name.startswith("__")]
    for m, ts in GRAPH.items():
        for t in ts:
            private = [p for p in t.split(".")[1:] if p.startswith("_") and not p.startswith("__")]
            if private and _layer(m) != "tests" and t.rsplit(".", 1)[0] != m.rsplit(".", 1)[0] \
                    and not (_layer(m) in TOOLS and _layer(t) == _layer(m)):
                bad.append(f"{m} imports the private module {t}")
    assert not bad, "\n".join(sorted(bad))


def test_no_module_reaches_into_a_private_attribute_of_an_imported_module():
    """``control._SET_CHUNK_SIZE_C``-style access: ``name._attr`` where ``name`` is a module of ours."""
    bad = []
    for m, p in SOURCES.items():
        if _layer(m) == "tests":
            continue
        tree = ast.parse(p.read_text())
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if _ours(a.name):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
            elif isinstance(node, ast.ImportFrom):
                for target, names, _ in _imports(m, p):
                    if not names and _ours(target):
                        for a in node.names:
                            if target.endswith(a.name):
                                aliases[a.asname or a.name] = target
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{m}:{node.lineno} {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_the_core_does_no_io():
    """rtmpspec is sans-I/O: no sockets, event loops, threads or processes (time is passed in)."""
    bad = {m: sorted(EXTERNAL[m] & set(NO_IO)) for m in GRAPH if _layer(m) == "rtmpspec" and EXTERNAL[m] & set(NO_IO)}
    assert not bad, bad
