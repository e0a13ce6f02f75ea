"""Each someipy 2.1.2 workaround, shown by a test that fails when the workaround is switched off.

The daemon code runs in-process here (same code as in the daemon process); its UDP
transport is replaced by a recorder of what would be sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct

import pytest

import vehicle_mw.someip  # noqa: F401  (applies the workarounds)
from vehicle_mw.someip import _someipy_fixes as fixes
from vehicle_mw.someip import sd, wire

from someipy import EventGroup, Event, Method, TransportLayerProtocol  # isort: skip
from someipy._internal._common.endpoint import Endpoint  # isort: skip
from someipy._internal._daemon.offer_service_storage import ServiceToOffer  # isort: skip
from someipy._internal._daemon.subscription import Subscription  # isort: skip
from someipy._internal.someip_endpoint import UDPSomeipEndpoint  # isort: skip
from someipy._internal.someip_endpoint_factory import SomeipEndpointFactory  # isort: skip
from someipy._internal.someip_sd_header import SdSubscription  # isort: skip
from someipy.someipyd import SomeipDaemon  # isort: skip

UDP, TCP = TransportLayerProtocol.UDP, TransportLayerProtocol.TCP
PEER = ("127.0.0.2", 30490)


class Recorder:
    """Stands in for a UDP transport/endpoint: records what the daemon sends."""

    def __init__(self, ip: str = "127.0.0.1", port: int = 30509):
        self.sent: list[tuple[bytes, object]] = []
        self._ip, self._port = ip, port

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append((data, addr))

    def src_ip(self) -> str:
        return self._ip

    def src_port(self) -> int:
        return self._port

    def protocol(self) -> TransportLayerProtocol:
        return UDP


def make_daemon() -> SomeipDaemon:
    daemon = SomeipDaemon(None, SomeipEndpointFactory(), {"interface": "127.0.0.1"}, logging.getLogger("t"))
    daemon._ucast_transport = Recorder()
    return daemon


def offered(methods: list[Method]) -> ServiceToOffer:
    groups = [EventGroup(1, [Event(0x8001, UDP)]), EventGroup(2, [Event(0x8002, UDP)])]
    return ServiceToOffer(
        1, 0x5678, 0x1234, 1, 0, 3, 1000, Endpoint(ipaddress.IPv4Address("127.0.0.1"), 30509), methods, groups
    )


def subscription(group: int) -> SdSubscription:
    return SdSubscription(0x1234, 0x5678, 1, 3, 1, 0, group, ipaddress.IPv4Address("127.0.0.2"), 40000, UDP)


def offer_datagram(options: list[sd.Option], ttl: int = 3) -> bytes:
    return sd.encode([sd.Entry(sd.OFFER, 0x1234, 0x5678, 1, ttl, options=options)])


UDP_OPT = sd.Option(sd.OPTION_IPV4_ENDPOINT, "127.0.0.2", sd.UDP, 30509)
TCP_OPT = sd.Option(sd.OPTION_IPV4_ENDPOINT, "127.0.0.2", sd.TCP, 30510)


def test_every_fix_is_applied_and_names_its_bug():
    assert fixes.SOMEIPY_VERSION == "2.1.2"
    assert all(f.enabled and len(f.bug) > 40 for f in fixes.FIXES.values())


def test_method_hash_lets_a_service_with_methods_ack_subscriptions():
    def run() -> list:
        daemon = make_daemon()
        daemon._services_to_offer.add_service(offered([Method(1, UDP)]))
        daemon._handle_subscription(subscription(1))
        return daemon._ucast_transport.sent

    sent = run()
    assert len(sent) == 1 and sd.decode(next(wire.split(sent[0][0])).payload)[0].name == "SubscribeAck"
    with fixes.disabled("method_hash"), pytest.raises(TypeError, match="unhashable"):
        run()


def test_subscription_expiry_task_survives_an_expired_subscription():
    def run() -> SomeipDaemon:
        daemon = make_daemon()
        daemon._active_subscriptions.add(
            Subscription(
                0x1234,
                0x5678,
                1,
                EventGroup(1, []),
                1,
                None,
                None,
                frozenset({UDP}),
                timestamp_last_update=0.0,
            )
        )
        daemon._check_service_ttl_task_impl()
        return daemon

    assert run()._active_subscriptions == set()
    with fixes.disabled("subscription_expiry"), pytest.raises(AttributeError, match="eventgroup_id"):
        run()


def test_every_message_of_a_datagram_is_handled():
    def run() -> list[int]:
        got: list[int] = []
        endpoint = UDPSomeipEndpoint("127.0.0.1", 40000)
        endpoint.set_someip_callback(lambda msg, src, dst, proto: got.append(msg.header.method_id))
        datagram = b"".join(wire.build(0x1234, 0x8001 + i, struct.pack(">I", i)) for i in range(3))
        endpoint.datagram_received(datagram, ("127.0.0.2", 30509))
        return got

    assert run() == [0x8001, 0x8002, 0x8003]
    with fixes.disabled("all_messages_per_read"):
        assert run() == [0x8001]


def test_every_message_of_a_tcp_read_is_handled():
    from someipy._internal.tcp_client_manager import TcpClientProtocol

    class Manager:
        def __init__(self) -> None:
            self.got: list[int] = []

        def someip_callback(self, client: object, msg: object) -> None:
            self.got.append(msg.header.method_id)

    def run() -> list[int]:
        manager = Manager()
        proto = TcpClientProtocol(manager)
        proto.data_received(b"".join(wire.build(0x1234, 0x8001 + i, b"ab") for i in range(3)))
        return manager.got

    assert run() == [0x8001, 0x8002, 0x8003]
    with fixes.disabled("all_messages_per_read"):
        assert run() == [0x8001]


def test_offer_endpoint_follows_the_protocol_asked_for():
    async def run() -> int:
        daemon = make_daemon()
        daemon._requested_subscriptions.add_subscription(
            7,
            Subscription(
                0x1234,
                0x5678,
                1,
                EventGroup(1, [Event(0x8001, TCP)]),
                3,
                Endpoint(ipaddress.IPv4Address("127.0.0.1"), 40000),
                None,
                frozenset({TCP}),
            ),
        )
        daemon.datagram_received_mcast(offer_datagram([UDP_OPT, TCP_OPT]), PEER)
        for endpoints in list(daemon._someip_client_endpoints._storage.values()):
            for endpoint in endpoints:
                endpoint.shutdown()
        return daemon._found_services[0].endpoint.port

    assert asyncio.run(run()) == 30510  # the TCP option
    with fixes.disabled("offer_endpoint_by_protocol"):
        assert asyncio.run(run()) == 30509  # TCP subscription pointed at the UDP port


def test_stop_offer_forgets_the_service_and_its_subscriptions():
    def run() -> SomeipDaemon:
        daemon = make_daemon()
        daemon.datagram_received_mcast(offer_datagram([UDP_OPT]), PEER)
        assert len(daemon._found_services) == 1
        daemon._active_subscriptions.add(
            Subscription(
                0x1234,
                0x5678,
                1,
                EventGroup(1, []),
                3,
                None,
                None,
                frozenset({UDP}),
                timestamp_last_update=1e12,
            )
        )
        daemon.datagram_received_mcast(offer_datagram([UDP_OPT], ttl=0), PEER)
        return daemon

    daemon = run()
    assert daemon._found_services == [] and daemon._active_subscriptions == set()
    with fixes.disabled("stop_offer"):
        daemon = run()
        assert len(daemon._found_services) == 1 and len(daemon._active_subscriptions) == 1


def test_malformed_sd_is_counted_with_its_peer():
    offer = offer_datagram([UDP_OPT])
    broken = offer[:20] + struct.pack(">I", 0xFFFF) + offer[24:]  # entries length past the end
    daemon = make_daemon()
    before = fixes.SD_ERRORS.get(PEER[0], 0)
    daemon.datagram_received_mcast(broken, PEER)
    assert fixes.SD_ERRORS[PEER[0]] == before + 1
    with fixes.disabled("sd_input_guard"), pytest.raises(Exception):  # noqa: B017 - whatever someipy raises
        daemon.datagram_received_mcast(broken, PEER)


def test_an_event_goes_once_to_the_subscribers_of_its_eventgroup():
    def run() -> int:
        daemon = make_daemon()
        service = offered([])
        daemon._services_to_offer.add_service(service)
        daemon._handle_subscription(subscription(1))
        daemon._handle_subscription(subscription(2))
        endpoint = Recorder()
        daemon._someip_server_endpoints.add_endpoint(1, endpoint)
        daemon._handle_send_event_request(
            {
                "service_id": 0x1234,
                "instance_id": 0x5678,
                "major_version": 1,
                "client_id": 0,
                "session_id": 1,
                "eventgroup_id": 1,
                "event": Event(0x8001, UDP).to_json(),
                "src_endpoint_ip": "127.0.0.1",
                "src_endpoint_port": 30509,
                "payload": "AAAA",
            },
            1,
        )
        return len(endpoint.sent)

    assert run() == 1
    with fixes.disabled("event_per_eventgroup"):
        assert run() == 2


def test_stopping_a_tcp_offer_closes_its_connections():
    async def run() -> bytes | None:
        factory = SomeipEndpointFactory()
        endpoint = await factory.create_server_endpoint(
            Endpoint(ipaddress.IPv4Address("127.0.0.1"), 0), TCP, lambda *a: None
        )
        port = endpoint._server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):  # until the server registered the connection (bounded)
            if endpoint._manager.get_all_clients():
                break
            await asyncio.sleep(0.005)
        endpoint.shutdown()
        try:
            return await asyncio.wait_for(reader.read(1), 1.0)  # b"" = closed by the server
        except TimeoutError:
            return None
        finally:
            writer.close()

    assert asyncio.run(run()) == b""
    with fixes.disabled("tcp_stop_closes_connections"):
        assert asyncio.run(run()) is None


def test_multicast_option_of_a_subscribe_ack_is_kept():
    ack = sd.encode(
        [sd.Entry(sd.SUBSCRIBE_ACK, 0x1234, 0x5678, 1, 3, eventgroup_id=1,
                  options=[sd.Option(sd.OPTION_IPV4_MULTICAST, "239.7.7.7", sd.UDP, 30600)])],
        session_id=5,
    )  # fmt: skip

    def run() -> dict:
        daemon = make_daemon()
        daemon.datagram_received_ucast(ack, PEER)
        return getattr(daemon, "_vmw_multicast", {})

    assert run() == {(0x1234, 0x5678, 1): ("239.7.7.7", 30600)}
    with fixes.disabled("multicast_eventgroups"):
        assert run() == {}


def test_someipy_logs_go_to_logging_not_stdout(capsys):
    import someipy._internal._daemon.someipy_daemon_client as client_module

    def log_once(tag: str) -> str:
        client_module.get_logger(f"fix-test-{tag}").error("No data received")
        return capsys.readouterr().out

    assert log_once("on") == ""
    with fixes.disabled("logs_to_stdout"):
        assert "No data received" in log_once("off")
