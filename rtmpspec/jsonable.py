"""Turn decoded values (construct Containers, AMF values, events) into JSON.

Used by the dissector, the golden-vector manifests and the reports, so that one
decoded value has exactly one JSON spelling.

Conventions:
- ``bytes`` -> ``{"$bytes": "<hex>"}`` (short) so binary payloads stay readable;
- non-finite floats -> ``{"$float": "nan" | "inf" | "-inf"}`` (JSON has no NaN);
- construct ``Container`` -> dict without private ``_`` keys (``_io`` etc.);
- construct ``EnumIntegerString`` -> its name (a str); unknown enum values stay ints;
- any object with a ``__json__()`` method -> whatever it returns (AMF value
  classes, events);
- dataclasses -> ``{"$type": ClassName, **fields}``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from construct import Container, EnumIntegerString, ListContainer


def to_jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, EnumIntegerString):
        return str(obj)
    if hasattr(obj, "__json__"):
        return obj.__json__()
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return {"$float": "nan"}
        if math.isinf(obj):
            return {"$float": "inf" if obj > 0 else "-inf"}
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(obj).hex()}
    if isinstance(obj, Container):
        return {k: to_jsonable(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, ListContainer)):
        return [to_jsonable(v) for v in obj]
    if dataclasses.is_dataclass(obj):
        out = {"$type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = to_jsonable(getattr(obj, f.name))
        return out
    raise TypeError(f"cannot turn {type(obj).__name__} into JSON")
