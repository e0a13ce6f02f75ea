"""A provider that behaves as vsomeip does over TCP, built from raw SD and sockets.

    python tests/someip/mini_tcp_provider.py IP

Offers 0x1234.0x5678 with separate ports (UDP 30509, TCP 30510), as vsomeip can:

* a Subscribe with a TCP endpoint option is acknowledged only if that endpoint already
  has a TCP connection to 30510, else it gets a SubscribeNack (TTL 0), as vsomeip does;
* ``stop`` sends a StopOffer and resets (RST) every TCP connection, ``start`` offers again;
* acknowledged TCP subscribers of eventgroup 1 get a wheel_speeds event every 20 ms;
* method 0x0001 (add) is answered on TCP only.

Prints ``ready`` and one JSON line per ``stats`` command; stops when stdin closes.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys

from vehicle_mw.someip import sd, wire

SID, IID, UDP_PORT, TCP_PORT = 0x1234, 0x5678, 30509, 30510


class Provider:
    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.sd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sd.bind((ip, 30490))
        self.sd.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((ip, UDP_PORT))
        self.listener: socket.socket | None = None
        self.conns: dict[tuple[str, int], socket.socket] = {}
        self.subscribed: set[tuple[str, int]] = set()  # TCP subscribers of eventgroup 1
        self.session, self.counter = 1, 0
        self.stats = {"acks": 0, "nacks": 0, "events": 0, "calls": 0, "connections": 0}
        self.offering = False

    def send_sd(self, entries: list[sd.Entry], addr: tuple[str, int], unicast: bool = True) -> None:
        self.session = self.session % 0xFFFF + 1
        self.sd.sendto(sd.encode(entries, session_id=self.session, unicast=unicast), addr)

    def offer(self, ttl: int = 2) -> None:
        opts = [
            sd.Option(sd.OPTION_IPV4_ENDPOINT, self.ip, sd.UDP, UDP_PORT),
            sd.Option(sd.OPTION_IPV4_ENDPOINT, self.ip, sd.TCP, TCP_PORT),
        ]
        self.send_sd([sd.Entry(sd.OFFER, SID, IID, 1, ttl, options=opts)], ("224.224.224.245", 30490), False)

    def start(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.ip, TCP_PORT))
        self.listener.listen(8)
        self.offering = True
        self.offer()

    def stop(self) -> None:
        self.offering = False
        self.offer(ttl=0)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for conn in self.conns.values():  # reset, as vsomeip does on StopOffer
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        self.conns.clear()
        self.subscribed.clear()

    def on_sd(self, data: bytes, peer: tuple[str, int]) -> None:
        for msg in wire.split(data):
            if not isinstance(msg, wire.Message) or not sd.is_sd(msg):
                continue
            for e in sd.decode(msg.payload):
                if e.type != sd.SUBSCRIBE or not self.offering:
                    continue
                tcp = [(o.address, o.port) for o in e.options if o.protocol == sd.TCP]
                ok = e.ttl > 0 and all(ep in self.conns for ep in tcp)
                if e.ttl and tcp and e.eventgroup_id == 1 and ok:
                    self.subscribed.update(tcp)
                self.stats["acks" if ok else "nacks"] += 1 if e.ttl else 0
                ack = sd.Entry(
                    sd.SUBSCRIBE_ACK, e.service_id, e.instance_id, e.major_version, e.ttl if ok else 0,
                    eventgroup_id=e.eventgroup_id,
                )  # fmt: skip
                self.send_sd([ack], peer)

    def on_tcp(self, key: tuple[str, int], conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            conn.close()
            self.conns.pop(key, None)
            self.subscribed.discard(key)
            return
        for msg in wire.split(data):
            if isinstance(msg, wire.Message) and msg.message_type == wire.REQUEST and msg.method_id == 1:
                a, b = struct.unpack(">ii", bytes(msg.payload))
                self.stats["calls"] += 1
                conn.sendall(
                    wire.build(SID, 1, struct.pack(">q", a + b), client_id=msg.client_id,
                               session_id=msg.session_id, message_type=wire.RESPONSE)
                )  # fmt: skip

    def tick(self) -> None:
        for key in list(self.subscribed):
            conn = self.conns.get(key)
            if conn is None:
                continue
            self.counter += 1
            payload = struct.pack(">ffff", self.counter, 2.0, 3.0, 4.0)
            try:
                conn.sendall(wire.build(SID, 0x8001, payload, session_id=self.counter % 0xFFFF + 1))
                self.stats["events"] += 1
            except OSError:
                self.subscribed.discard(key)


def main() -> None:
    p = Provider(sys.argv[1])
    p.start()
    print("ready", flush=True)
    ticks = 0
    while True:
        socks = [p.sd, sys.stdin, *p.conns.values()] + ([p.listener] if p.listener else [])
        ready, _, _ = select.select(socks, [], [], 0.02)
        for s in ready:
            if s is sys.stdin:
                line = sys.stdin.readline().strip()
                if not line:
                    return
                if line == "stop":
                    p.stop()
                elif line == "start":
                    p.start()
                print(json.dumps(p.stats), flush=True)
            elif s is p.sd:
                data, peer = p.sd.recvfrom(65536)
                p.on_sd(data, peer)
            elif s is p.listener:
                conn, peer = p.listener.accept()
                p.conns[peer] = conn
                p.stats["connections"] += 1
            else:
                key = next((k for k, c in p.conns.items() if c is s), None)
                if key is not None:
                    p.on_tcp(key, s)
        ticks += 1
        if p.offering and ticks % 10 == 0:
            p.offer()
        p.tick()


if __name__ == "__main__":
    main()
