"""Provider of one service instance: offers it via someipy, serves methods with Python handlers,
sends events and field notifiers built from values or from ``vmw_sample`` records.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.someip import wire
from vehicle_mw.someip.codec import CodecError, PayloadCodec, build_codec
from vehicle_mw.someip.samples import EventEncoder, samples_to_values

log = logging.getLogger("vehicle_mw.someip.provider")

MethodHandler = Callable[[Any], Any]


class ProviderError(VehicleMwError):
    """A provider misconfigured by its caller (unknown event/method/field, bad value)."""


class Provider:
    """Offers one service instance; create it with :meth:`SomeIpRuntime.provide`."""

    def __init__(
        self,
        service: SomeIpService,
        interface_ip: str,
        daemon_client: Any,
        handlers: Mapping[str, MethodHandler] | None = None,
        fast_events: bool = True,
    ):
        from someipy import ServerServiceInstance

        from vehicle_mw.someip.service_model import someipy_service

        self.service = service
        self._daemon = daemon_client
        types, order = service.types, service.byte_order
        handlers = dict(handlers or {})
        unknown = sorted(set(handlers) - {m.name for m in service.methods})
        if unknown:
            raise ProviderError(f"{service.name}: handlers for unknown methods {unknown}")
        self.field_values: dict[str, Any] = {}
        self._field_codecs: dict[str, PayloadCodec] = {}
        someipy_handlers: dict[int, Any] = {}
        for m in service.methods:
            someipy_handlers[m.id] = self._method_handler(
                m.name,
                handlers.get(m.name),
                build_codec(m.request, types, order),
                build_codec(m.response, types, order),
            )
        for f in service.fields:
            codec = build_codec(f.type, types, order)
            self._field_codecs[f.name] = codec
            self.field_values[f.name] = f.initial if f.initial is not None else codec.zero()
            if f.getter is not None:
                someipy_handlers[f.getter] = self._getter(f.name, codec)
            if f.setter is not None:
                someipy_handlers[f.setter] = self._setter(f.name, codec)
        self._someipy_service = someipy_service(service, someipy_handlers)
        self._groups_of = {
            eid: [g.id for g in service.eventgroups if eid in g.events]
            for g in service.eventgroups
            for eid in g.events
        }
        self._events = {e.name: e for e in service.events}
        self._event_codecs = {e.name: build_codec(e.type, types, order) for e in service.events}
        self._encoders = [
            EventEncoder(e, self._event_codecs[e.name], None) for e in service.events if e.signals
        ]
        self._field_encoders = [
            EventEncoder(f, self._field_codecs[f.name], None) for f in service.fields if f.signals
        ]
        self.event_values: dict[str, Any] = {name: c.zero() for name, c in self._event_codecs.items()}
        ip = service.endpoint.ip or interface_ip
        self._ip = ip
        self._want_fast = (
            fast_events and bool(service.events) and all(e.protocol == "udp" for e in service.events)
        )
        self._udp_events = {e.id for e in service.events if e.protocol == "udp"}
        self._raw: Any = None
        self._subscribers: dict[int, list[tuple[str, int]]] = {}
        self._watch: asyncio.Task[None] | None = None
        self._session = 0
        self.fast_sent = 0  # events sent on the raw fast path (the rest went through the daemon)
        self._instance = ServerServiceInstance(
            daemon_client,
            self._someipy_service,
            service.instance_id,
            ip,
            service.endpoint.port,
            ttl=service.sd.ttl,
            cyclic_offer_delay_ms=service.sd.cyclic_offer_delay_ms,
        )
        self.offered = False

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        notifiers = [f.notifier for f in self.service.fields if f.notifier is not None]
        if notifiers:
            self._daemon.transmit_message_to_daemon(
                {
                    "type": "VmwFieldNotifiers",
                    "service_id": self.service.service_id,
                    "instance_id": self.service.instance_id,
                    "event_ids": notifiers,
                }
            )
        await self._instance.start_offer()
        self.offered = True
        if self._want_fast and self._raw is None:
            from vehicle_mw.someip.raw_sender import RawUdpSender

            try:
                self._raw = RawUdpSender(self._ip, self.service.endpoint.port)
            except OSError as exc:  # no CAP_NET_RAW: events go through the daemon
                log.info("%s: events through the someipy daemon (no raw socket: %s)", self.service.name, exc)
            else:
                self._watch = asyncio.create_task(self._watch_subscribers())
        for f in self.service.fields:  # the daemon keeps these for new subscribers (initial value)
            if f.notifier is not None:
                self._notify(f.name)

    async def stop(self) -> None:
        """Stop offering (sends StopOffer); :meth:`start` offers again."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self._subscribers = {}
        if self.offered:
            self.offered = False
            await self._instance.stop_offer()

    async def restart(self) -> None:
        """Offer again on a fresh daemon (the runtime calls it after restarting a daemon that died)."""
        was_offered = self.offered
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self._subscribers = {}
        self.offered = False
        if was_offered:
            await self.start()

    async def _watch_subscribers(self, interval: float = 0.1) -> None:
        """Keep the fast path's subscriber list in step with the daemon's (SD runs there)."""
        sid, iid = self.service.service_id, self.service.instance_id
        while True:
            try:
                status = await self._daemon.vmw_status()
            except Exception as exc:  # daemon restarting: keep the last known subscribers (their TTL holds)
                log.debug("%s: subscriber refresh failed: %s", self.service.name, exc)
            else:
                subs: dict[int, list[tuple[str, int]]] = {}
                for s_id, i_id, group, ip, port in status.get("subscribers", []):
                    if (s_id, i_id) == (sid, iid):
                        subs.setdefault(group, []).append((ip, port))
                self._subscribers = subs
            await asyncio.sleep(interval)

    async def wait_subscribed(self, timeout: float, poll: float = 0.05) -> None:
        """Wait (bounded) until the daemon reports at least one subscriber of this service."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = (self.service.service_id, self.service.instance_id)
        while True:
            try:
                status = await self._daemon.vmw_status()
                if any((s[0], s[1]) == key for s in status.get("subscribers", [])):
                    return
            except Exception as exc:  # daemon restarting
                log.debug("%s: status failed: %s", self.service.name, exc)
            if loop.time() > deadline:
                raise ProviderError(f"{self.service.name}: no subscriber within {timeout} s")
            await asyncio.sleep(poll)

    # ---- events and fields ----------------------------------------------------------------

    def send_event(self, name: str, value: Any) -> None:
        event = self._events.get(name)
        if event is None:
            raise ProviderError(f"{self.service.name} has no event {name!r}")
        try:
            payload = self._event_codecs[name].encode(value)
        except CodecError as exc:
            raise ProviderError(f"{self.service.name}.{name}: {exc}") from None
        self.event_values[name] = value
        self._send(event.id, payload)

    def set_field(self, name: str, value: Any) -> None:
        """Change a field's value and notify subscribers."""
        if name not in self._field_codecs:
            raise ProviderError(f"{self.service.name} has no field {name!r}")
        try:
            self._field_codecs[name].encode(value)
        except CodecError as exc:
            raise ProviderError(f"{self.service.name}.{name}: {exc}") from None
        self.field_values[name] = value
        self._notify(name)

    def feed(self, samples: np.ndarray) -> int:
        """Apply sample records (e.g. decoded CAN signals) to the mapped events and fields and send them.

        Each event or field touched by at least one signal is sent once, with the
        latest value of each of its signals; returns how many messages were sent.
        """
        values = samples_to_values(samples)
        sent = 0
        for enc in self._encoders:
            name = enc.definition.name
            value, touched = enc.apply(self.event_values[name], values)
            if touched:
                self.send_event(name, value)
                sent += 1
        for enc in self._field_encoders:
            name = enc.definition.name
            value, touched = enc.apply(self.field_values[name], values)
            if touched:
                self.set_field(name, value)
                sent += 1
        return sent

    async def feed_from(self, ring: Any, max_n: int = 256) -> None:
        """Forever: take sample batches from ``ring`` (e.g. the decoded-CAN sample ring) and :meth:`feed`
        them. Run it as a task; cancel the task to stop."""
        while True:
            batch = await ring.get_batch(max_n, timeout=1.0)
            if batch:
                self.feed(np.frombuffer(batch, SAMPLE_DTYPE))

    def _notify(self, name: str) -> None:
        fld = next(f for f in self.service.fields if f.name == name)
        if fld.notifier is not None and self.offered:
            self._send(fld.notifier, self._field_codecs[name].encode(self.field_values[name]))

    def _send(self, event_id: int, payload: bytes) -> None:
        if not self.offered:
            return
        if self._raw is not None and event_id in self._udp_events:
            groups = self._groups_of.get(event_id, ())
            targets = (
                self._subscribers.get(groups[0], ())
                if len(groups) == 1
                else {t for g in groups for t in self._subscribers.get(g, ())}
            )
            if targets:  # none known yet (first poll pending): the daemon knows better, use it
                self._session = self._session % 0xFFFF + 1
                message = wire.build(self.service.service_id, event_id, payload, session_id=self._session,
                                     interface_version=self.service.major_version)  # fmt: skip
                for target in targets:
                    self._raw.send(target, message)
                self.fast_sent += 1
                return
        for group_id in self._groups_of.get(event_id, []):
            self._instance.send_event(group_id, event_id, payload)

    # ---- methods --------------------------------------------------------------------------

    def _method_handler(
        self, name: str, handler: MethodHandler | None, req: PayloadCodec, resp: PayloadCodec
    ) -> Any:
        async def serve(payload: bytes, addr: tuple[str, int]) -> Any:
            if handler is None:
                return _result(0x03)  # E_UNKNOWN_METHOD: declared but nobody serves it
            try:
                value = req.decode(payload)
            except CodecError as exc:
                log.warning("%s.%s: malformed request from %s:%s: %s", self.service.name, name, *addr, exc)
                return _result(0x09)  # E_MALFORMED_MESSAGE
            try:
                out = handler(value)
                if inspect.isawaitable(out):
                    out = await out
                return _result(0x00, resp.encode(out))
            except Exception as exc:  # a handler bug answers E_NOT_OK instead of killing the provider
                log.exception("%s.%s handler failed for %s:%s: %s", self.service.name, name, *addr, exc)
                return _result(0x01)

        return serve

    def _getter(self, name: str, codec: PayloadCodec) -> Any:
        async def get(payload: bytes, addr: tuple[str, int]) -> Any:
            return _result(0x00, codec.encode(self.field_values[name]))

        return get

    def _setter(self, name: str, codec: PayloadCodec) -> Any:
        async def set_(payload: bytes, addr: tuple[str, int]) -> Any:
            try:
                value = codec.decode(payload)
            except CodecError as exc:
                log.warning("%s.%s: malformed set from %s:%s: %s", self.service.name, name, *addr, exc)
                return _result(0x09)
            self.field_values[name] = value
            self._notify(name)
            return _result(0x00, codec.encode(value))

        return set_


def _result(code: int, payload: bytes = b"") -> Any:
    from someipy import MessageType, MethodResult, ReturnCode

    result = MethodResult()
    result.return_code = ReturnCode(code)
    result.message_type = MessageType.RESPONSE if code == 0 else MessageType.ERROR
    result.payload = payload
    return result


__all__ = ["Provider", "ProviderError", "MethodHandler"]
