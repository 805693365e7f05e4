"""How the Enhanced RTMP cases judge a relay.

E-RTMP is optional for a server, but what a server *declares* binds it: a server whose connect ``_result`` lists a
FourCC (fourCcList, or CanForward in a FourCcInfoMap) or a capsEx bit (Multitrack, ModEx) and then drops that media
fails; one that declares nothing and drops it is "unsupported"; one that alters it fails either way. Publishers and
players connect with the E-RTMP v2 properties of a capable client (every FourCC CanForward, capsEx Reconnect |
Multitrack | ModEx | TimestampNanoOffset) so that no server has a reason to withhold the media from them.
"""

from __future__ import annotations

from collections.abc import Callable

from rtmpspec import media
from rtmpspec.messages import plain

from .case import Player, Publisher, compare_relay
from .driver import Session, StepTimeout
from .payloads import AUDIO, VIDEO, Item
from .verdicts import Observed, Verdict, observed

V = Verdict
CAPS_EX_ALL = int(media.CapsExMask.Reconnect | media.CapsExMask.Multitrack | media.CapsExMask.ModEx
                  | media.CapsExMask.TimestampNanoOffset)
E_CONNECT = {"extra": media.connect_properties(caps_ex=CAPS_EX_ALL)}


def server_caps(*sessions: Session) -> media.ErtmpCaps:
    """What the server declared in its connect _result (properties and information object) to any of
    ``sessions``."""
    for s in sessions:
        res = s.connect_result
        c = res.command if res is not None else None
        if c is None or c.name != "_result":
            continue
        props = plain(c.command_object)
        info = next((plain(a) for a in c.args if isinstance(plain(a), dict)), {})
        merged = {**(info if isinstance(info, dict) else {}), **(props if isinstance(props, dict) else {})}
        caps = media.parse_connect_caps(merged)
        if caps.enhanced:
            return caps
    return media.ErtmpCaps()


def declares_fourcc(fourcc: bytes) -> Callable[[media.ErtmpCaps], bool]:
    return lambda caps: caps.supports(fourcc.decode("latin-1"), media.FourCcInfoMask.CanForward)


def declares_caps(bit: int) -> Callable[[media.ErtmpCaps], bool]:
    return lambda caps: bool(caps.caps_ex & bit)


def pair(ctx, **connect) -> tuple[Publisher, Player]:
    kw = connect or E_CONNECT
    pub = ctx.publisher(**kw)
    return pub, ctx.player(pub.key, **kw)


def judge(items: list[Item], got: list, caps: media.ErtmpCaps, declared: bool, what: str) -> Observed:
    """relayed / dropped (unsupported) / dropped-declared / partial / altered."""
    if not got:
        if declared:
            return observed("dropped-declared", f"the server declares {what} in its connect _result "
                                                f"({caps.__json__()}) but relayed none of it")
        return observed("dropped", f"no {what} reached the player (and the server does not declare it)")
    problem = compare_relay(items, got)
    if problem:
        sent = {i.payload for i in items}
        types = {i.type_id for i in items}
        missing = {t for t in types if not any(m.type_id == t for m in got)}
        if missing and missing != types and compare_relay([i for i in items if i.type_id not in missing], got) is None:
            kinds = " and ".join("video" if t == VIDEO else "audio" for t in sorted(missing))
            if declared:
                return observed("dropped-declared", f"the {kinds} of the {what} was dropped although declared "
                                                    f"({caps.__json__()}); the rest arrived intact")
            return observed("dropped", f"the {kinds} of the {what} was dropped (not declared); the rest arrived "
                                       "intact")
        if len(got) < len(items) and all(m.payload in sent for m in got):
            return observed("partial", problem[0], offending=problem[1])
        return observed("altered", problem[0], offending=problem[1])
    return observed("relayed", f"{len(items)} messages byte-exact with their timestamp deltas")


def settle(ctx, pub: Publisher, play: Player, items: list[Item], timeout: float = 1.5) -> list:
    """After ``items``: a legacy AAC message as a sentinel (every server relays it, after whatever it relays of
    what came before); the media the player got once the sentinel (or every item) arrived, without the sentinel.
    A server that drops the E-RTMP media is seen at once, not after a timeout."""
    from .payloads import aac

    sentinel = Item(AUDIO, items[-1].timestamp if items else 0, aac(1, bytes(41)), "sentinel")
    pub.send(sentinel)
    deadline = min(timeout, ctx.step_timeout)
    try:
        play.s.wait_until(lambda: len(play.media()) >= len(items) + 1 or any(
            m.payload == sentinel.payload for m in play.media()), "the relayed media and the sentinel", deadline)
    except StepTimeout:
        pass
    return [m for m in play.media() if m.payload != sentinel.payload]


def relay(ctx, items: list[Item], what: str, declared: Callable[[media.ErtmpCaps], bool]) -> Observed:
    """Publish ``items`` to a player connected first; judge what it gets."""
    pub, play = pair(ctx)
    pub.send_all(items)
    got = settle(ctx, pub, play, items)
    caps = server_caps(play.s, pub.s)
    return judge(items, got, caps, declared(caps), what)


def accept(what: str) -> dict:
    """The verdicts of a relay case: unsupported only when the server drops media it does not declare."""
    return {"relayed": V.PASS, "dropped": (V.UNSUPPORTED, f"{what} is not relayed (not declared either)"),
            "dropped-declared": (V.FAIL, f"{what} declared in the connect _result but dropped"),
            "partial": (V.FAIL, f"some {what} messages lost on the way"), "altered": V.FAIL}


# -- malformed media: a controlled failure, other streams unharmed -------------------------------------------------

def controlled(ctx, good: list[Item], bad: Item, after: list[Item], *, nested: bool = False) -> Observed:
    """``good`` media, then ``bad`` (unknown FourCC, reserved type, nested multitrack), then ``after``, on one
    publisher; a second publisher streams alongside. The server may drop ``bad``, pass it through untouched
    (a relay need not parse media; not for a nested multitrack, which no sender may emit), refuse the stream
    with a status or close the publisher's connection: all controlled. It must not alter anything, stall the
    publisher's connection, or disturb the other stream."""
    pub, play = pair(ctx)
    pub2 = ctx.publisher(label="pub2", **E_CONNECT)
    play2 = ctx.player(pub2.key, label="play2", **E_CONNECT)
    other = list(good)
    pub2.send_all(other)
    pub.send_all(good)
    if not play.wait_payload(good[-1].payload, timeout=min(1.5, ctx.step_timeout)):
        return observed("no-relay", "the valid media before the malformed message did not reach the player")
    closed = False
    try:
        pub.send(bad)
        pub.send_all(after)
    except Exception:  # noqa: BLE001 - the server closed the publisher: a controlled refusal
        closed = True
    # the other stream goes on
    more = [Item(i.type_id, i.timestamp + 1000, i.payload, i.label) for i in after]
    pub2.send_all(more)
    if not play2.wait_payload(more[-1].payload, timeout=min(1.5, ctx.step_timeout)):
        return observed("harmed", "after the malformed message on one stream, another stream stopped reaching "
                                  "its player")
    problem = compare_relay(other + more, play2.media())
    if problem:
        return observed("harmed", f"the other stream was disturbed: {problem[0]}", offending=problem[1])
    if closed or pub.s.wait_closed(0.1):
        return observed("closed", "the server closed the publisher's connection")
    play.wait_payload(after[-1].payload, timeout=min(1.0, ctx.step_timeout))
    play.s.drain(0.05, limit=0.2)
    tail = play.media()[_index_after(play, good):]
    passed_bad = [m for m in tail if m.payload == bad.payload]
    sent = {i.payload for i in good + after} | {bad.payload}
    foreign = [m for m in tail if m.payload not in sent]
    if foreign:
        return observed("altered", "the player got a message the publisher never sent", offending=foreign[0])
    statuses = [m for m in pub.s.inbox if m.name in ("onStatus", "_error")
                and ((m.command.status or {}).get("level") == "error" or m.name == "_error")]
    rest = [m for m in tail if m.payload != bad.payload]
    if passed_bad:
        if nested:
            return observed("relayed-nested", "the nested multitrack message was relayed as it is",
                            offending=passed_bad[0])
        return observed("passed-through", "the malformed message was relayed untouched, the stream went on")
    if statuses:
        return observed("errored", f"{statuses[0].name} {statuses[0].code}: the stream was refused")
    if len(rest) < len(after):
        return observed("broken", f"the malformed message was dropped, and then {len(after) - len(rest)} of "
                                  f"{len(after)} valid messages after it were lost too, without a word")
    return observed("dropped", "the malformed message was dropped, the stream went on")


CONTROLLED = {"dropped": V.PASS, "passed-through": (V.PASS, "relayed untouched (a relay need not parse media)"),
              "closed": (V.PASS, "the publisher's connection was closed"),
              "errored": (V.PASS, "the stream was refused with an error status"),
              "relayed-nested": (V.FAIL, "a nested multitrack message was forwarded (MUST NOT)"),
              "broken": (V.FAIL, "the stream broke silently after the malformed message"),
              "harmed": V.FAIL, "altered": V.FAIL,
              "no-relay": (V.UNSUPPORTED, "the E-RTMP media around the malformed message is not relayed")}


def _index_after(player: Player, good: list[Item]) -> int:
    """Position in the player's media list right after the last message of ``good``."""
    media_list = player.media()
    last = good[-1].payload
    for i in range(len(media_list) - 1, -1, -1):
        if media_list[i].payload == last:
            return i + 1
    return len(media_list)


def first_video(player: Player) -> list:
    return [m for m in player.media() if m.type_id == VIDEO]
