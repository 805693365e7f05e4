"""The battery's crafted chunk layouts are rtmpspec's: :mod:`rtmpspec.craft` is the one crafting module (chunk
headers in every form, messages chunked any way, control payloads with any values, handshake flights). Cases keep
writing ``from . import craft`` / ``craft.message(...)``; this module only names it for them."""

from rtmpspec.craft import *  # noqa: F401,F403
from rtmpspec.craft import __all__  # noqa: F401
