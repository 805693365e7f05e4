"""Client mode of the conformance battery (``pytest conformance --client CMD``): the battery plays the server on
``rtmpspec.Connection(Role.SERVER)`` and judges a publishing or playing client. See docs/conformance.md."""
