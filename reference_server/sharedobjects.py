"""Remote shared objects (RTMP 1.0 7.1.3, 7.3.2), in memory, per application, never persisted.

A client's Use joins it to the named object (Use Success, Clear, then a Change for every slot); Request Change sets
a slot (Success to the requester, Change to every other client); Request Remove deletes one (Success to the
requester, Remove to the others); Send Message goes to every client of the object, the sender included; Release
leaves. Messages come and go as type 19 (AMF0) or, for a client that used the AMF3 form, type 16 (format selector 0
first). Bounded: objects per server, slots per object, bytes per value and per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtmpspec import sharedobject
from rtmpspec.errors import DecodeError, ProtocolError
from rtmpspec.message_format import Message
from rtmpspec.sharedobject import EventType as E

SO_AMF0, SO_AMF3 = 19, 16
MAX_OBJECTS = 1000
MAX_SLOTS = 1000
MAX_VALUE = 64 * 1024
MAX_CLIENTS = 10000


@dataclass
class _Object:
    name: str
    version: int = 0
    slots: dict[str, bytes] = field(default_factory=dict)  # slot name -> one AMF value (as the client sent it)
    clients: dict[Any, bool] = field(default_factory=dict)  # session -> uses the AMF3 form


class SharedObjects:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], _Object] = {}

    def on_message(self, session: Any, msg: Message) -> None:
        amf3 = msg.type_id == SO_AMF3
        try:
            so = sharedobject.parse(msg.payload, amf3=amf3)
        except DecodeError as exc:
            raise ProtocolError(exc.what, offset=exc.offset, field=exc.field, section=exc.section) from exc
        key = (session.app or "", so.name)
        obj = self.objects.get(key)
        for etype, data in so.events:
            if etype == E.Use:
                if obj is None:
                    if len(self.objects) >= MAX_OBJECTS:
                        self._send(session, so.name, 0, [(E.Status, _status("SharedObject.Limit"))], amf3)
                        return
                    obj = self.objects[key] = _Object(so.name)
                if len(obj.clients) < MAX_CLIENTS:
                    obj.clients[session] = amf3
                    sync = [(E.UseSuccess, b""), (E.Clear, b"")]
                    sync += [(E.Change, sharedobject.NameValue.build({"name": k, "value": v}))
                             for k, v in obj.slots.items()]
                    self._send(session, so.name, obj.version, sync, amf3)
            elif obj is None or session not in obj.clients:
                continue  # events of an object the client does not use
            elif etype == E.Release:
                obj.clients.pop(session, None)
                if not obj.clients:
                    self.objects.pop(key, None)
                    obj = None
            elif etype == E.RequestChange:
                self._change(obj, session, data)
            elif etype == E.RequestRemove:
                name = sharedobject.Name.parse(data)
                if obj.slots.pop(name, None) is not None:
                    obj.version += 1
                    self._send(session, obj.name, obj.version, [(E.Success, data)], obj.clients[session])
                    self._others(obj, session, [(E.Remove, data)])
            elif etype == E.SendMessage:
                for client, c_amf3 in list(obj.clients.items()):
                    self._send(client, obj.name, obj.version, [(E.SendMessage, data)], c_amf3)

    def _change(self, obj: _Object, session: Any, data: bytes) -> None:
        nv = sharedobject.NameValue.parse(data)
        if len(nv.value) > MAX_VALUE or (nv.name not in obj.slots and len(obj.slots) >= MAX_SLOTS):
            self._send(session, obj.name, obj.version, [(E.Status, _status("SharedObject.Limit"))],
                       obj.clients[session])
            return
        obj.slots[nv.name] = bytes(nv.value)
        obj.version += 1
        self._send(session, obj.name, obj.version, [(E.Success, sharedobject.Name.build(nv.name))],
                   obj.clients[session])
        self._others(obj, session, [(E.Change, data)])

    def _others(self, obj: _Object, session: Any, events: list) -> None:
        for client, c_amf3 in list(obj.clients.items()):
            if client is not session:
                self._send(client, obj.name, obj.version, events, c_amf3)

    @staticmethod
    def _send(session: Any, name: str, version: int, events: list, amf3: bool) -> None:
        body = sharedobject.build(name, events, version=version, amf3=amf3)
        session.send(Message(SO_AMF3 if amf3 else SO_AMF0, body, 0, 0, 3))

    def leave(self, session: Any) -> None:
        """The session is gone: it leaves every object (empty objects are dropped)."""
        for key, obj in list(self.objects.items()):
            if obj.clients.pop(session, None) is not None and not obj.clients:
                self.objects.pop(key, None)


def _status(code: str) -> bytes:
    """Status event data: a message and a level (RTMP 1.0 7.1.3: 'an error condition is reported')."""
    return sharedobject.Name.build(code) + sharedobject.Name.build("error")
