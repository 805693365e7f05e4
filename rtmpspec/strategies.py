"""Hypothesis strategies derived from construct schemas, by one generic walk over the schema tree.

``from_schema(schema)`` returns a strategy of values that ``schema.build`` accepts. The contract tests check
``parse(build(x)) == x`` with it, and the fuzzers use it to make valid input before breaking it. Nothing here
knows RTMP: every schema in rtmpspec is covered by the same mechanism.

How dependencies between fields are handled:
- Struct fields are drawn in order into a context, so ``If(this.x == k, ...)``, ``Switch(this.x, ...)`` and
  ``Bytes(this.n)`` see the values drawn before them.
- Before drawing a Struct, its later fields are scanned for expressions on earlier fields (Switch keys,
  ``==``/``!=`` comparisons); those fields are then drawn from the interesting values most of the time
  (every Switch case, the compared constant), and from their full range otherwise.
- ``Rebuild``/``Computed`` fields are not drawn: build computes them.
- Custom ``Construct`` subclasses give their own strategy with a ``hypothesis_strategy()`` method.
"""

from __future__ import annotations

import io
import operator
import struct as _struct
from typing import Any

import construct as cs
from construct.expr import BinExpr, Path
from hypothesis import strategies as st

__all__ = ["from_schema", "field_paths"]

MAX_BYTES = 64
MAX_ITEMS = 5
MAX_DEPTH = 4


def _path_of(expr, root: str = "this") -> tuple[str, ...] | None:
    """``this.a.b`` -> ("a", "b"); ``this._.a`` -> ("_", "a"); None for anything else (``_params``
    excluded). ``root="obj_"`` reads RepeatUntil predicates."""
    if not isinstance(expr, Path):
        return None
    parts = []
    p = expr
    while True:
        field = p._Path__field
        parent = p._Path__parent
        if parent is None:
            break
        parts.append(field)
        p = parent
    if p._Path__name != root or not parts:
        return None
    parts.reverse()
    if parts[0] in ("_params", "_root"):
        return None
    return tuple(parts)


def _unwrap(sc):
    while isinstance(sc, (cs.Renamed,)):
        sc = sc.subcon
    return sc


def _collect_hints(expr, hints: dict, root: str = "this") -> None:
    """Record interesting values for fields that an expression compares or switches on."""
    if isinstance(expr, BinExpr):
        if expr.op in (operator.eq, operator.ne, operator.ge, operator.gt, operator.le, operator.lt):
            for a, b in ((expr.lhs, expr.rhs), (expr.rhs, expr.lhs)):
                path = _path_of(a, root)
                if path is not None and isinstance(b, (int, str, bytes)):
                    hints.setdefault(path, []).append(b)
        else:
            _collect_hints(expr.lhs, hints, root)
            _collect_hints(expr.rhs, hints, root)


def _scan(sc, hints: dict, depth: int = 0, nested: bool = False) -> None:
    """Find Switch keys and If conditions inside ``sc``. Inside a nested Struct only expressions on the parent
    (``this._.x``) matter here: they are recorded as hints for this level's field ``x``."""
    sc = _unwrap(sc)
    if depth > 4:
        return
    if isinstance(sc, cs.LazyBound):
        _scan(sc.subconfunc(), hints, depth + 1, nested)
        return
    if isinstance(sc, cs.Struct):
        if nested:
            return  # two levels down: out of reach
        inner: dict = {}
        for sub in sc.subcons:
            _scan(sub, inner, depth + 1)
        for path, values in inner.items():
            if path[0] == "_" and len(path) > 1:
                hints.setdefault(path[1:], []).extend(values)
        return
    if isinstance(sc, cs.Switch):
        path = _path_of(sc.keyfunc)
        if path is not None:
            hints.setdefault(path, []).extend(sc.cases.keys())
        for case in sc.cases.values():
            _scan(case, hints, depth + 1, nested)
    elif isinstance(sc, cs.IfThenElse):
        _collect_hints(sc.condfunc, hints)
        _scan(sc.thensubcon, hints, depth + 1, nested)
        _scan(sc.elsesubcon, hints, depth + 1, nested)
    elif isinstance(sc, cs.Subconstruct):
        _scan(sc.subcon, hints, depth + 1, nested)


def _int_range(sc) -> tuple[int, int] | None:
    if isinstance(sc, cs.FormatField):
        code = sc.fmtstr[-1]
        if code in "fde":
            return None
        bits = 8 * sc.length
        signed = code.islower()
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if isinstance(sc, (cs.BytesInteger, cs.BitsInteger)):
        length = sc.length if isinstance(sc.length, int) else None
        if length is None:
            return None
        bits = length * (8 if isinstance(sc, cs.BytesInteger) else 1)
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if sc.signed else (0, (1 << bits) - 1)
    return None


def _with_hint(base, hint, valid=None):
    if not hint:
        return base
    values = [h for h in dict.fromkeys(hint) if valid is None or valid(h)]
    if not values:
        return base
    return st.one_of(st.sampled_from(values), st.sampled_from(values), st.sampled_from(values), base)


def _eval(expr, ctx):
    if callable(expr):
        return expr(ctx)
    return expr


def from_schema(schema, *, params: dict | None = None) -> st.SearchStrategy:
    """A strategy of values ``schema.build(value, **params)`` accepts."""
    @st.composite
    def _strategy(draw):
        try:
            return _Drawer(draw, dict(params or {})).draw(schema, cs.Container(), None, 0)
        except _Retry:
            from hypothesis import reject

            reject()

    return _strategy()


class _Unsupported(Exception):
    pass


class _Retry(Exception):
    """The draw reached an ``Error`` branch or an absurd length: redraw the enclosing Struct."""


MAX_LENGTH = 4096  # a length field drawn larger than this is redrawn (the value would not be "small")
STRUCT_RETRIES = 8


class _Drawer:
    def __init__(self, draw, params: dict):
        self._draw = draw
        self.params = params

    def d(self, strategy):
        return self._draw(strategy)

    def draw(self, sc, ctx, hint, depth) -> Any:  # noqa: C901 - one dispatch table
        hook = getattr(sc, "hypothesis_strategy", None)
        if hook is not None:
            return self.d(hook())
        if isinstance(sc, cs.Renamed):
            return self.draw(sc.subcon, ctx, hint, depth)
        if isinstance(sc, cs.Struct):
            return self.struct(sc, ctx, hint or {}, depth)
        if isinstance(sc, cs.FocusedSeq):
            return self.focused(sc, ctx, depth)
        if isinstance(sc, cs.Sequence):
            return cs.ListContainer(self.draw(s, ctx, None, depth) for s in sc.subcons)
        if isinstance(sc, cs.Const):
            return sc.value
        if isinstance(sc, (cs.Computed, cs.Rebuild)):
            return None
        if isinstance(sc, cs.Default):
            return self.draw(sc.subcon, ctx, hint, depth)
        if isinstance(sc, cs.Enum):
            names = list(sc.encmapping.keys())
            rng = _int_range(_unwrap(sc.subcon))
            base = st.sampled_from(names) if names else st.integers(*rng)
            if rng is not None:
                base = st.one_of(base, base, base, st.integers(*rng))
            if hint:
                vals = [sc.decmapping.get(h, h) if isinstance(h, int) else h for h in hint]
                base = _with_hint(base, [str(v) for v in vals])
            v = self.d(base)
            if isinstance(v, int) and v in sc.decmapping:  # parse would give the name: so must a Switch
                v = sc.decmapping[v]
            return v
        if isinstance(sc, cs.FlagsEnum):
            return {name: self.d(st.booleans()) for name in sc.flags}
        if isinstance(sc, cs.Flag.__class__) or sc is cs.Flag:
            return self.d(st.booleans())
        rng = _int_range(sc)
        if rng is not None:
            lo, hi = rng
            edges = [v for v in (lo, hi, 0, 1, hi - 1) if lo <= v <= hi]
            base = st.one_of(st.integers(lo, hi), st.sampled_from(edges))
            return self.d(_with_hint(base, [h for h in (hint or []) if isinstance(h, int)],
                                     lambda v: lo <= v <= hi))
        if isinstance(sc, cs.FormatField):  # floats
            if sc.fmtstr[-1] == "f":
                return self.d(st.floats(width=32, allow_nan=False))
            return self.d(st.floats(allow_nan=False))
        if isinstance(sc, cs.Bytes):
            n = self.length(sc.length, ctx)
            return self.d(st.binary(min_size=n, max_size=n))
        if isinstance(sc, cs.GreedyBytes.__class__) or sc is cs.GreedyBytes:
            return self.d(st.binary(max_size=MAX_BYTES))
        if isinstance(sc, cs.StringEncoded):
            return self.string(sc, ctx)
        if isinstance(sc, cs.Prefixed):
            return self.draw(sc.subcon, ctx, hint, depth)
        if isinstance(sc, cs.IfThenElse):
            cond = _eval(sc.condfunc, ctx)
            return self.draw(sc.thensubcon if cond else sc.elsesubcon, ctx, hint, depth)
        if isinstance(sc, cs.Switch):
            key = _eval(sc.keyfunc, ctx)
            case = sc.cases.get(key, sc.default)
            return self.draw(case, ctx, hint, depth)
        if isinstance(sc, cs.Array):
            n = self.length(sc.count, ctx, MAX_ITEMS)
            return cs.ListContainer(self.draw(sc.subcon, ctx, None, depth + 1) for _ in range(n))
        if isinstance(sc, cs.GreedyRange):
            n = self.d(st.integers(0, MAX_ITEMS if depth < MAX_DEPTH else 0))
            return cs.ListContainer(self.draw(sc.subcon, ctx, None, depth + 1) for _ in range(n))
        if isinstance(sc, cs.RepeatUntil):
            return self.repeat_until(sc, ctx, depth)
        if isinstance(sc, cs.LazyBound):
            return self.draw(sc.subconfunc(), ctx, hint, depth + 1)
        if isinstance(sc, cs.Select):
            sub = self.d(st.sampled_from(sc.subcons))
            return self.draw(sub, ctx, hint, depth)
        if sc is cs.Pass or isinstance(sc, type(cs.Pass)):
            return None
        if isinstance(sc, (cs.Error.__class__, cs.ExplicitError)) or sc is cs.Error:
            raise _Retry()
        if getattr(sc, "flagbuildnone", False) and not isinstance(sc, cs.Subconstruct) and _zero_width(sc):
            # a zero-width helper computing from the context (e.g. AMF3 reference tables): run it as build
            # would, so later fields that depend on it see its value
            try:
                return sc._build(None, io.BytesIO(), ctx, "(strategy)")
            except Exception:
                raise _Retry() from None
        if isinstance(sc, cs.Padded):
            return self.draw(sc.subcon, ctx, hint, depth)
        if isinstance(sc, cs.Adapter):
            inner = self.draw(sc.subcon, ctx, hint, depth)
            return sc._decode(inner, ctx, "(strategy)")
        if isinstance(sc, (cs.Transformed, cs.Restreamed, cs.Aligned, cs.NullTerminated, cs.NullStripped,
                           cs.FixedSized)):
            return self.draw(sc.subcon, ctx, hint, depth)
        if isinstance(sc, cs.Subconstruct):
            return self.draw(sc.subcon, ctx, hint, depth)
        raise _Unsupported(f"no strategy for {sc!r}")

    def length(self, expr, ctx, default_max=MAX_BYTES) -> int:
        if isinstance(expr, int):
            return expr
        try:
            n = expr(ctx)
        except Exception:
            n = None
        if n is None:  # a Rebuild length not known yet: any small length
            return self.d(st.integers(0, default_max))
        if n < 0 or n > MAX_LENGTH:
            raise _Retry()
        return int(n)

    def string(self, sc, ctx) -> str:
        inner = _unwrap(sc.subcon)
        alphabet = st.characters(blacklist_categories=("Cs",))
        if isinstance(inner, cs.NullTerminated):
            alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
        max_bytes = MAX_BYTES
        if isinstance(inner, cs.Prefixed):
            rng = _int_range(_unwrap(inner.lengthfield))
            if rng:
                max_bytes = min(max_bytes, rng[1])
        if isinstance(inner, cs.FixedSized):
            n = self.length(inner.length, ctx)
            return self.d(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=n))
        enc = sc.encoding
        return self.d(st.text(alphabet=alphabet, max_size=max_bytes // 4).filter(
            lambda s: len(s.encode(enc)) <= max_bytes))

    def struct(self, sc, parent, hint: dict, depth):
        for _attempt in range(STRUCT_RETRIES):
            try:
                return self._struct(sc, parent, hint, depth)
            except _Retry:
                continue
        raise _Retry()

    def _struct(self, sc, parent, hint: dict, depth):
        ctx = cs.Container(_=parent, _params=self.params, _root=None)
        ctx._params = self.params
        local = {}
        for sub in sc.subcons:
            _scan(sub, local)
        out = cs.Container()
        for sub in sc.subcons:
            name = sub.name
            if name is None:
                self.draw(sub, ctx, None, depth + 1)
                continue
            sub_hint = {}
            for path, values in list(local.items()) + list(hint.items()):
                if path[0] == name:
                    if len(path) == 1:
                        sub_hint = values if not sub_hint else sub_hint
                    else:
                        if not isinstance(sub_hint, dict):
                            sub_hint = {}
                        sub_hint.setdefault(path[1:], []).extend(values)
            u = _unwrap(sub)
            if isinstance(u, cs.LazyBound):
                u = u.subconfunc()
            if isinstance(u, (cs.Struct, cs.Transformed, cs.Restreamed)):
                value = self.draw(sub, ctx, sub_hint if isinstance(sub_hint, dict) else None, depth + 1)
            else:
                value = self.draw(sub, ctx, sub_hint if isinstance(sub_hint, list) else None, depth + 1)
            if isinstance(u, (cs.Computed, cs.Rebuild)):
                continue
            ctx[name] = value
            out[name] = value
        return out

    def focused(self, sc, parent, depth):
        ctx = cs.Container(_=parent, _params=self.params, _root=None)
        focus = sc.parsebuildfrom
        for sub in sc.subcons:
            if sub.name == focus:
                return self.draw(sub, ctx, None, depth + 1)
        raise _Unsupported("FocusedSeq without its focus")

    def repeat_until(self, sc, ctx, depth):
        pred = sc.predicate
        items = cs.ListContainer()
        n = self.d(st.integers(0, MAX_ITEMS if depth < MAX_DEPTH else 0))
        for _ in range(n):
            for _attempt in range(5):
                try:
                    x = self.draw(sc.subcon, ctx, None, depth + 1)
                except _Retry:
                    continue
                if not pred(x, items + [x], ctx):
                    items.append(x)
                    break
        # terminator: draw with the values the predicate compares against (e.g. an object-end marker)
        term_hint: dict = {}
        _collect_hints(pred, term_hint, root="obj_")
        for _attempt in range(50):
            try:
                x = self.draw(sc.subcon, ctx, term_hint or None, depth + 1)
            except _Retry:
                continue
            if pred(x, items + [x], ctx):
                items.append(x)
                return items
        from hypothesis import reject

        reject()


def _zero_width(sc) -> bool:
    try:
        return sc._sizeof(cs.Container(), "(strategy)") == 0
    except Exception:
        return False


def field_paths(value, prefix: str = "") -> set[str]:
    """Names of the schema fields present in a drawn or parsed value (for 'fields exercised' counters)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.startswith("_"):
                continue
            p = f"{prefix}.{k}" if prefix else str(k)
            out.add(p)
            out |= field_paths(v, p)
    elif isinstance(value, list):
        for v in value:
            out |= field_paths(v, prefix + "[]")
    return out


def _float_roundtrip(x: float, width: int) -> float:
    return _struct.unpack(">f" if width == 32 else ">d", _struct.pack(">f" if width == 32 else ">d", x))[0]
