"""Workarounds for someipy 2.1.2 bugs seen on the wire, all in one place so they can go.

Each :class:`Fix` names the bug it covers. :func:`apply_all` runs in every process
that uses someipy (the daemon started by :mod:`vehicle_mw.someip.daemon` and the
runtime's client side); :func:`disabled` switches one off again so a test can show
the bug it covers. Delete an entry when someipy ships the fix (check
``SOMEIPY_VERSION`` against the installed one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import someipy.someipyd as someipyd
from someipy._internal._daemon.subscription import Subscription
from someipy._internal._sd.entries.sd_entry import SdEntryType
from someipy._internal.someip_endpoint import UDPSomeipEndpoint
from someipy._internal.someip_header import SomeIpHeader
from someipy._internal.someip_message import SomeIpMessage
from someipy._internal.tcp_client_manager import TcpClientProtocol
from someipy._internal.transport_layer_protocol import TransportLayerProtocol
from someipy.service import Method

from vehicle_mw.someip import sd, wire

SOMEIPY_VERSION = "2.1.2"
log = logging.getLogger("vehicle_mw.someip.fixes")


@dataclass
class Fix:
    """One workaround: ``install`` puts it in place, ``remove`` restores someipy's behaviour."""

    name: str
    bug: str
    install: Callable[[], None]
    remove: Callable[[], None]
    enabled: bool = field(default=False)


FIXES: dict[str, Fix] = {}
#: malformed SD datagrams the daemon dropped, by peer ip (visible in the daemon process)
SD_ERRORS: dict[str, int] = {}
#: malformed SOME/IP messages someipy's endpoints dropped, by peer ip
MESSAGE_ERRORS: dict[str, int] = {}


def _register(name: str, bug: str) -> Callable[[Callable[[], Callable[[], None]]], None]:
    """Decorator: the function installs the fix and returns the function that removes it."""

    def wrap(setup: Callable[[], Callable[[], None]]) -> None:
        state: dict[str, Callable[[], None]] = {}

        def install() -> None:
            state["remove"] = setup()

        def remove() -> None:
            state.pop("remove")()

        FIXES[name] = Fix(name, bug, install, remove)

    return wrap


def _patch(owner: Any, attr: str, value: Any) -> Callable[[], None]:
    had = attr in vars(owner)
    old = vars(owner).get(attr)
    setattr(owner, attr, value)

    def undo() -> None:
        if had:
            setattr(owner, attr, old)
        else:
            delattr(owner, attr)

    return undo


@_register(
    "method_hash",
    "Method defines __eq__ without __hash__: offering a service with methods "
    "raises TypeError when a subscription arrives, so no SubscribeAck is sent",
)
def _method_hash() -> Callable[[], None]:
    return _patch(Method, "__hash__", lambda self: hash((self.id, self.protocol)))


@_register(
    "logs_to_stdout",
    "every someipy logger writes to stdout through its own handler (and ERRORs on a closed daemon "
    "connection), mixing library logs into the application's output",
)
def _logs_to_stdout() -> Callable[[], None]:
    import sys

    import someipy._internal.logging as someipy_logging
    from someipy.someipy_logging import get_someipy_log_level

    original = someipy_logging.get_logger

    def get_logger(name: str) -> logging.Logger:
        logger = logging.getLogger(f"someipy.{name}")  # propagates to the application's logging setup
        logger.setLevel(get_someipy_log_level())
        return logger

    def swap(new: Callable[[str], logging.Logger], old: Callable[[str], logging.Logger]) -> None:
        for mod_name, module in list(sys.modules.items()):
            if mod_name.startswith("someipy") and getattr(module, "get_logger", None) is old:
                module.get_logger = new

    swap(get_logger, original)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("someipy.") and isinstance(logger, logging.Logger):
            for handler in [h for h in logger.handlers if getattr(h, "stream", None) is sys.stdout]:
                logger.removeHandler(handler)
    return lambda: swap(original, get_logger)


@_register(
    "subscription_expiry",
    "the expiry task logs subscription.eventgroup_id, which does not exist: "
    "the task dies on the first expired subscription and service TTLs are never checked again",
)
def _subscription_expiry() -> Callable[[], None]:
    return _patch(Subscription, "eventgroup_id", property(lambda self: self.eventgroup.id))


def _dispatch_all(endpoint: UDPSomeipEndpoint, data: bytes, addr: tuple[str, int]) -> None:
    for item in wire.split(data):
        if isinstance(item, wire.Malformed):
            MESSAGE_ERRORS[addr[0]] = MESSAGE_ERRORS.get(addr[0], 0) + 1
            log.warning(
                "malformed SOME/IP from %s:%s at offset %d: %s", addr[0], addr[1], item.offset, item.reason
            )
            return
        header = SomeIpHeader(
            service_id=item.service_id,
            method_id=item.method_id,
            length=len(item.payload) + 8,
            client_id=item.client_id,
            session_id=item.session_id,
            protocol_version=wire.PROTOCOL_VERSION,
            interface_version=item.interface_version,
            message_type=item.message_type,
            return_code=item.return_code,
        )
        if endpoint._callback is not None:
            endpoint._callback(
                SomeIpMessage(header, bytes(item.payload)),
                addr,
                (endpoint._ip, endpoint._port),
                endpoint._protocol,
            )


@_register(
    "all_messages_per_read",
    "only the first SOME/IP message of a UDP datagram or TCP read is handled; "
    "the rest are silently dropped (vsomeip packs several into one datagram)",
)
def _all_messages_per_read() -> Callable[[], None]:
    def datagram_received(self: UDPSomeipEndpoint, data: bytes, addr: tuple[str, int]) -> None:
        _dispatch_all(self, data, addr)

    original_tcp = TcpClientProtocol.data_received

    def data_received(self: TcpClientProtocol, data: bytes) -> None:
        original_tcp(self, data)
        # the processor keeps bytes past the first message; drain every complete one left
        while self._data_processor.process_data(b"") and self._client_manager is not None:
            self._client_manager.someip_callback(self, self._data_processor.someip_message)

    undo_udp = _patch(UDPSomeipEndpoint, "datagram_received", datagram_received)
    undo_tcp = _patch(TcpClientProtocol, "data_received", data_received)
    return lambda: (undo_udp(), undo_tcp())


@_register(
    "tcp_stop_closes_connections",
    "stopping a TCP offer closes only the listening socket: accepted "
    "connections stay open, so after a re-offer clients stay on a dead connection and get no events",
)
def _tcp_stop_closes_connections() -> Callable[[], None]:
    from someipy._internal.someip_endpoint import TCPSomeipEndpoint

    original = TCPSomeipEndpoint.shutdown

    def shutdown(self: Any) -> None:
        original(self)
        if self._manager is not None:
            for client in list(self._manager.get_all_clients()):
                if client._transport is not None:
                    client._transport.close()

    return _patch(TCPSomeipEndpoint, "shutdown", shutdown)


def _tcp_client_endpoints(daemon: Any, offered: Any) -> list[Any]:
    """someipy's TCP client endpoints of the local subscriptions to an offered service instance."""
    out = []
    for sub, _ in daemon._requested_subscriptions.has_subscriptions(
        offered.service_id, offered.instance_id, offered.major_version
    ):
        if TransportLayerProtocol.TCP not in (offered.protocols & sub.protocols):
            continue
        endpoint = daemon._someip_client_endpoints.get_end_point_by_src_and_dst_ip_port(
            str(sub.client_endpoint.ip),
            sub.client_endpoint.port,
            str(offered.endpoint.ip),
            offered.endpoint.port,
            TransportLayerProtocol.TCP,
        )
        if endpoint is not None:
            out.append(endpoint)
    return out


def _drop_dead_tcp_endpoints(daemon: Any) -> None:
    """Forget TCP client endpoints whose connect-and-receive task has ended (so a new one is made)."""
    storage = daemon._someip_client_endpoints
    for client_id, endpoints in list(storage._storage.items()):
        for endpoint in list(endpoints):
            task = getattr(endpoint, "_connect_and_receive_task", None)
            if task is not None and task.done():
                storage.remove_endpoint(client_id, endpoint)


TCP_CONNECT_WAIT_S = 3.0  # how long a TCP Subscribe waits for its connection after an offer


@_register(
    "tcp_reconnect",
    "a TCP connection reset by the provider (vsomeip resets on StopOffer and on exit) kills the "
    "client's connect task (wait_closed raises), so it never reconnects; and the Subscribe after an "
    "offer is sent before the connection is up, which vsomeip answers with a SubscribeNack",
)
def _tcp_reconnect() -> Callable[[], None]:
    from someipy._internal.tcp_connection import TcpConnection

    original_close = TcpConnection.close
    original_offered = someipyd.SomeipDaemon._handle_offered_service

    async def close(self: Any) -> None:
        try:
            await original_close(self)
        except OSError:  # reset by the peer: the connection is gone either way
            self.writer = None

    def handle_offered(self: Any, offered: Any) -> None:
        _drop_dead_tcp_endpoints(self)
        original_offered(self, offered)
        waiting = [e for e in _tcp_client_endpoints(self, offered) if not e.is_connected()]
        key = (offered.service_id, offered.instance_id, offered.major_version)
        retries = self.__dict__.setdefault("_vmw_tcp_resubscribe", {})
        if waiting and key not in retries:
            retries[key] = asyncio.get_running_loop().create_task(resubscribe(self, offered, waiting, key))

    async def resubscribe(self: Any, offered: Any, waiting: list[Any], key: tuple[int, int, int]) -> None:
        """Subscribe again as soon as the connection is up (the first Subscribe raced it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TCP_CONNECT_WAIT_S
        try:
            while not all(e.is_connected() for e in waiting) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            if all(e.is_connected() for e in waiting) and offered in self._found_services:
                original_offered(self, offered)
        finally:
            self._vmw_tcp_resubscribe.pop(key, None)

    undo_close = _patch(TcpConnection, "close", close)
    undo_offered = _patch(someipyd.SomeipDaemon, "_handle_offered_service", handle_offered)
    return lambda: (undo_close(), undo_offered()) and None


TCP_CALL_CONNECT_WAIT_S = 5.0  # a TCP method call waits this long for its connection, then is dropped


def _remember_offer_endpoints(daemon: Any, data: bytes) -> None:
    """(service, instance, major) -> {protocol: (ip, port)} of every offer, from all its endpoint options."""
    offers = daemon.__dict__.setdefault("_vmw_offer_endpoints", {})
    for entry in _sd_entries(data):
        if entry.type != sd.OFFER:
            continue
        key = (entry.service_id, entry.instance_id, entry.major_version)
        if entry.ttl == 0:
            offers.pop(key, None)
            continue
        eps = {o.protocol: (o.address, o.port) for o in entry.options if o.kind == sd.OPTION_IPV4_ENDPOINT}
        if eps:
            offers[key] = eps


@_register(
    "tcp_method_endpoint",
    "a TCP method call goes to the service's first endpoint option (the UDP port when UDP and TCP "
    "ports differ), and the daemon then waits forever for that connection, answering nothing else",
)
def _tcp_method_endpoint() -> Callable[[], None]:
    FIXES_RUNTIME["tcp_method_endpoint"] = True
    original = someipyd.SomeipDaemon._handle_outbound_call_method_request

    async def bounded(self: Any, message: dict, client_id: int) -> None:
        try:
            await asyncio.wait_for(original(self, message, client_id), TCP_CALL_CONNECT_WAIT_S)
        except TimeoutError:
            log.warning(
                "TCP method call %#06x.%#06x: no connection to %s:%s within %.0f s, call dropped",
                message["service_id"], message["method_id"], message["dst_endpoint_ip"],
                message["dst_endpoint_port"], TCP_CALL_CONNECT_WAIT_S,
            )  # fmt: skip

    async def call(self: Any, message: dict, client_id: int) -> None:
        if TransportLayerProtocol(message["protocol"]) != TransportLayerProtocol.TCP:
            await original(self, message, client_id)
            return
        key = (message["service_id"], message["instance_id"], message["major_version"])
        tcp = getattr(self, "_vmw_offer_endpoints", {}).get(key, {}).get(sd.TCP)
        if tcp is not None:
            message = {**message, "dst_endpoint_ip": tcp[0], "dst_endpoint_port": tcp[1]}
        tasks = self.__dict__.setdefault("_vmw_call_tasks", set())
        task = asyncio.get_running_loop().create_task(bounded(self, message, client_id))
        tasks.add(task)  # off the client's message loop: a slow connection blocks nothing else
        task.add_done_callback(tasks.discard)

    undo = _patch(someipyd.SomeipDaemon, "_handle_outbound_call_method_request", call)

    def remove() -> None:
        undo()
        FIXES_RUNTIME.pop("tcp_method_endpoint", None)

    return remove


@_register(
    "sd_reboot_flag",
    "offers, stop offers and subscribes always carry reboot flag 0 (serializer hard-codes it), so "
    "peers cannot detect a restart of this host",
)
def _sd_reboot_flag() -> Callable[[], None]:
    original = someipyd.serialize_sd_message

    def serialize(message: Any) -> bytes:
        data = bytearray(original(message))
        if getattr(message, "reboot_flag", False) and len(data) > wire.HEADER_SIZE:
            data[wire.HEADER_SIZE] |= 0x80  # first bit of the SD flags byte after the SOME/IP header
        return bytes(data)

    return _patch(someipyd, "serialize_sd_message", serialize)


@_register(
    "event_session_ids",
    "events sent through the daemon (TCP events, UDP ones off the fast path) all carry session id 1: "
    "the client library hard-codes it, so receivers cannot detect lost or repeated events",
)
def _event_session_ids() -> Callable[[], None]:
    import json

    original = someipyd.SomeipDaemon._handle_send_event_request

    def send(self: Any, message: dict, writer_id: int) -> None:
        sessions = self.__dict__.setdefault("_vmw_event_sessions", {})
        event = message["event"]
        event_id = (json.loads(event) if isinstance(event, str) else event).get("id")
        key = (message["service_id"], message["instance_id"], event_id)
        sessions[key] = sessions.get(key, 0) % 0xFFFF + 1  # 1..0xFFFF, 0 is never used
        original(self, {**message, "session_id": sessions[key]}, writer_id)

    return _patch(someipyd.SomeipDaemon, "_handle_send_event_request", send)


FIND_TTL_S = 3


def _answer_find(daemon: Any, data: bytes, addr: tuple[str, int]) -> None:
    """A unicast Offer to whoever sent a FindService for a service offered here."""
    from someipy._internal._sd.sd_message_creator import create_offer_service_message

    if addr[0] == daemon.interface or daemon._ucast_transport is None:
        return
    for entry in _sd_entries(data):
        if entry.type != sd.FIND:
            continue
        matching = [
            svc
            for svc in daemon._services_to_offer.get_all_services()
            if svc.service_id == entry.service_id
            and entry.instance_id in (0xFFFF, svc.instance_id)
            and entry.major_version in (0xFF, svc.major_version)
        ]
        if matching:
            session_id, reboot = daemon._unicast_session_handler.update_session()
            offer = create_offer_service_message(matching, session_id=session_id, reboot_flag=reboot)
            daemon._ucast_transport.sendto(someipyd.serialize_sd_message(offer), (addr[0], daemon.sd_port))


@_register(
    "find_service",
    "FindService entries are ignored (no unicast Offer in answer) and a consumer never sends one, "
    "so discovery waits for the provider's next cyclic offer",
)
def _find_service() -> Callable[[], None]:
    FIXES_RUNTIME["find_service"] = True
    original = someipyd.SomeipDaemon._handle_subscribe_eventgroup_request

    async def subscribe(self: Any, message: dict, client_id: int) -> None:
        await original(self, message, client_id)
        sid, iid = message["service_id"], message["instance_id"]
        if self._ucast_transport is None or any(
            (s.service_id, s.instance_id) == (sid, iid) for s in self._found_services
        ):
            return
        session_id, reboot = self._mcast_session_handler.update_session()
        find = sd.Entry(sd.FIND, sid, iid, message["major_version"], FIND_TTL_S, minor_version=0xFFFFFFFF)
        datagram = sd.encode([find], session_id=session_id, reboot=reboot, unicast=True)
        self._ucast_transport.sendto(datagram, (self.sd_address, self.sd_port))

    undo = _patch(someipyd.SomeipDaemon, "_handle_subscribe_eventgroup_request", subscribe)

    def remove() -> None:
        undo()
        FIXES_RUNTIME.pop("find_service", None)

    return remove


@_register(
    "tcp_client_port_reuse",
    "a TCP client binds its fixed local port without SO_REUSEADDR: after the consumer's own close "
    "(a restart) the port is in TIME_WAIT and every connect fails for 60 s, so no TCP events arrive",
)
def _tcp_client_port_reuse() -> Callable[[], None]:
    import socket

    from someipy._internal.tcp_connection import TcpConnection

    async def connect(self: Any, src_ip: str, src_port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as vsomeip's client sockets
            sock.bind((src_ip, src_port))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (self.remote_ip, self.remote_port))
        except BaseException:
            sock.close()
            raise
        self.reader, self.writer = await asyncio.open_connection(sock=sock)

    return _patch(TcpConnection, "connect", connect)


#: SubscribeNacks received, by (service, instance, eventgroup) (visible in the daemon process)
SUBSCRIBE_NACKS: dict[tuple[int, int, int], int] = {}


@_register(
    "nack_reported",
    "a SubscribeNack is only logged at INFO: the subscription stays pending and nobody is told",
)
def _nack_reported() -> Callable[[], None]:
    original = someipyd.SomeipDaemon._handle_sd_subscribe_nack_eventgroup_entry

    def nack(self: Any, entry: Any) -> None:
        original(self, entry)
        key = (entry.sd_entry.service_id, entry.sd_entry.instance_id, entry.eventgroup_id)
        SUBSCRIBE_NACKS[key] = SUBSCRIBE_NACKS.get(key, 0) + 1
        if SUBSCRIBE_NACKS[key] == 1 or SUBSCRIBE_NACKS[key] % 100 == 0:
            log.warning(
                "subscription to %#06x.%#06x eventgroup %#06x refused (SubscribeNack, %d so far)",
                *key,
                SUBSCRIBE_NACKS[key],
            )

    return _patch(someipyd.SomeipDaemon, "_handle_sd_subscribe_nack_eventgroup_entry", nack)


def _preferred_protocol(daemon: Any, service_id: int) -> TransportLayerProtocol:
    """TCP when every local subscription to the service asks for TCP only, else UDP."""
    wanted = [
        s.protocols for s in daemon._requested_subscriptions.subscriptions if s.service_id == service_id
    ]
    if wanted and all(TransportLayerProtocol.UDP not in p for p in wanted):
        return TransportLayerProtocol.TCP
    return TransportLayerProtocol.UDP


@_register(
    "offer_endpoint_by_protocol",
    "the first endpoint option of an offer is taken as the service endpoint "
    "whatever its protocol, so TCP subscriptions and calls connect to the UDP port",
)
def _offer_endpoint_by_protocol() -> Callable[[], None]:
    original = someipyd.deserialize_sd_message

    def deserialize(data: bytes, source: str, port: int, multicast: bool) -> Any:
        message = original(data, source, port, multicast)
        daemon = _CURRENT_DAEMON.get("daemon")
        if daemon is None:
            return message
        for entry in message.entries:
            if entry.type == SdEntryType.OFFER_SERVICE and len(entry.ip_v4_endpoints) > 1:
                want = _preferred_protocol(daemon, entry.service_id)
                entry.ip_v4_endpoints.sort(key=lambda opt: opt.protocol != want)
        return message

    return _patch(someipyd, "deserialize_sd_message", deserialize)


_CURRENT_DAEMON: dict[str, Any] = {}


def _forget_service(daemon: Any, entry: Any) -> int:
    """Drop a stopped service instance and the subscriptions to it; returns how many were dropped."""

    def same(s: Any) -> bool:
        return (s.service_id, s.instance_id, s.major_version) == (
            entry.service_id,
            entry.instance_id,
            entry.major_version,
        )

    before = len(daemon._found_services)
    daemon._found_services = [s for s in daemon._found_services if not same(s)]
    for subs in (daemon._active_subscriptions, daemon._pending_subscriptions):
        for sub in [s for s in subs if same(s)]:
            subs.discard(sub)
    return before - len(daemon._found_services)


@_register(
    "stop_offer",
    "StopOffer entries are ignored: a stopped service stays 'found' and subscribed "
    "until its TTL runs out (or forever, with the expiry task dead)",
)
def _stop_offer() -> Callable[[], None]:
    FIXES_RUNTIME["stop_offer"] = True
    return lambda: FIXES_RUNTIME.pop("stop_offer", None)


@_register(
    "sd_input_guard",
    "a malformed SD datagram raises inside the daemon's datagram handler "
    "(IndexError/struct.error/ValueError) instead of being counted and dropped",
)
def _sd_input_guard() -> Callable[[], None]:
    FIXES_RUNTIME["sd_input_guard"] = True
    return lambda: FIXES_RUNTIME.pop("sd_input_guard", None)


FIXES_RUNTIME: dict[str, bool] = {}


@_register(
    "multicast_eventgroups",
    "a SubscribeAck's IPv4 multicast option is ignored, so events a provider "
    "sends to the eventgroup's multicast address are never received",
)
def _multicast_eventgroups() -> Callable[[], None]:
    FIXES_RUNTIME["multicast_eventgroups"] = True
    return lambda: FIXES_RUNTIME.pop("multicast_eventgroups", None)


def _sd_entries(data: bytes) -> list[sd.Entry]:
    """SD entries of a datagram, read with vehicle_mw's decoder (someipy's raises on SubscribeAcks)."""
    out: list[sd.Entry] = []
    for message in wire.split(data):
        if isinstance(message, wire.Message) and sd.is_sd(message):
            out.extend(sd.decode(message.payload))
    return out


def _remember_multicast(daemon: Any, data: bytes) -> None:
    """Keep (service, instance, eventgroup) -> (group, port) of acknowledged multicast eventgroups;
    consumers read it with the daemon status and join the group on their own socket."""
    groups = daemon.__dict__.setdefault("_vmw_multicast", {})
    for entry in _sd_entries(data):
        if entry.type != sd.SUBSCRIBE_ACK:
            continue
        key = (entry.service_id, entry.instance_id, entry.eventgroup_id)
        mcast = [o for o in entry.options if o.kind == sd.OPTION_IPV4_MULTICAST]
        if entry.ttl == 0 or not mcast:
            groups.pop(key, None)
        else:
            groups[key] = (mcast[0].address, mcast[0].port)


_SENDING: dict[str, int] = {}


@_register(
    "event_per_eventgroup",
    "an event is sent to every subscriber of the service, once per subscribed "
    "eventgroup, instead of once to each subscriber of the event's eventgroup (duplicates)",
)
def _event_per_eventgroup() -> Callable[[], None]:
    from someipy._internal.subscribers import Subscribers

    original_send = someipyd.SomeipDaemon._handle_send_event_request

    def send(self: Any, message: dict, writer_id: int) -> None:
        _SENDING["eventgroup"] = message["eventgroup_id"]
        try:
            original_send(self, message, writer_id)
        finally:
            _SENDING.pop("eventgroup", None)

    def subscribers(self: Any) -> list[Any]:
        group = _SENDING.get("eventgroup")
        if group is None:
            return self._subscribers
        seen, out = set(), []
        for sub in self._subscribers:
            key = (str(sub.endpoint[0]), sub.endpoint[1])
            if sub.eventgroup_id == group and key not in seen:
                seen.add(key)
                out.append(sub)
        return out

    undo_send = _patch(someipyd.SomeipDaemon, "_handle_send_event_request", send)
    undo_prop = _patch(Subscribers, "subscribers", property(subscribers))
    return lambda: (undo_send(), undo_prop()) and None


def _install_sd_hooks() -> None:
    """Wrap the daemon's SD handlers once; the hooks consult FIXES_RUNTIME/_CURRENT_DAEMON."""
    cls = someipyd.SomeipDaemon
    if getattr(cls, "_vmw_hooked", False):
        return
    mcast, ucast = cls.datagram_received_mcast, cls.datagram_received_ucast

    def guarded(handler: Callable[..., None], self: Any, data: bytes, addr: tuple[str, int]) -> None:
        _CURRENT_DAEMON["daemon"] = self
        try:
            handler(self, data, addr)
            if FIXES_RUNTIME.get("stop_offer"):
                for entry in _sd_entries(data):
                    if entry.type == sd.OFFER and entry.ttl == 0 and _forget_service(self, entry):
                        log.info(
                            "service %#06x.%#06x stopped by %s", entry.service_id, entry.instance_id, addr[0]
                        )
            if FIXES_RUNTIME.get("multicast_eventgroups"):
                _remember_multicast(self, data)
            if FIXES_RUNTIME.get("tcp_method_endpoint"):
                _remember_offer_endpoints(self, data)
            if FIXES_RUNTIME.get("find_service"):
                _answer_find(self, data, addr)
        except Exception as exc:
            if not FIXES_RUNTIME.get("sd_input_guard"):
                raise
            SD_ERRORS[addr[0]] = SD_ERRORS.get(addr[0], 0) + 1
            log.warning(
                "malformed SD datagram from %s:%s dropped: %s: %s", addr[0], addr[1], type(exc).__name__, exc
            )
        finally:
            _CURRENT_DAEMON.pop("daemon", None)

    cls.datagram_received_mcast = lambda self, data, addr: guarded(mcast, self, data, addr)
    cls.datagram_received_ucast = lambda self, data, addr: guarded(ucast, self, data, addr)
    cls._vmw_hooked = True


def apply_all() -> None:
    """Install every workaround (idempotent); ``VMW_SOMEIPY_FIXES_OFF=a,b`` leaves some out (tests)."""
    import os

    off = set(filter(None, os.environ.get("VMW_SOMEIPY_FIXES_OFF", "").split(",")))
    _install_sd_hooks()
    for fix in FIXES.values():
        if not fix.enabled and fix.name not in off:
            fix.install()
            fix.enabled = True


@contextlib.contextmanager
def disabled(name: str) -> Iterator[Fix]:
    """Run a block with one workaround removed (for the test that shows its bug)."""
    fix = FIXES[name]
    was = fix.enabled
    if was:
        fix.remove()
        fix.enabled = False
    try:
        yield fix
    finally:
        if was:
            fix.install()
            fix.enabled = True


__all__ = [
    "FIXES",
    "Fix",
    "SD_ERRORS",
    "MESSAGE_ERRORS",
    "SUBSCRIBE_NACKS",
    "SOMEIPY_VERSION",
    "apply_all",
    "disabled",
]
