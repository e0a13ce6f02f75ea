"""A subscriber built from raw SD, renewing as vsomeip does (a Subscribe every ``PERIOD`` s).

    python tests/someip/raw_subscriber.py MY_IP PROVIDER_IP EVENTGROUP MAJOR COUNT PERIOD [udp|tcp]

Sends COUNT Subscribes (TTL 3) for 0x1234.0x5678 EVENTGROUP to PROVIDER_IP, receives on
MY_IP:40000 (UDP, or a TCP connection to PROVIDER_IP:30509 made first) and prints one JSON
line: the acks, every notification as [event id, interface version], and their session ids.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time

from vehicle_mw.someip import sd, wire


def main() -> None:
    ip, provider, group, major, count, period = sys.argv[1:7]
    protocol = sys.argv[7] if len(sys.argv) > 7 else "udp"
    group_id, major_v, n, dt = int(group), int(major), int(count), float(period)
    sd_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sd_sock.bind((ip, 30490))
    if protocol == "tcp":
        ev = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ev.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the last test's connection in TIME_WAIT
        ev.bind((ip, 40000))
        ev.connect((provider, 30509))
    else:
        ev = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ev.bind((ip, 40000))
    opt = sd.Option(sd.OPTION_IPV4_ENDPOINT, ip, sd.TCP if protocol == "tcp" else sd.UDP, 40000)
    acks, notes, sessions, pending = 0, [], [], b""
    end = time.monotonic() + n * dt + 0.5
    next_sub, sent = time.monotonic(), 0
    while time.monotonic() < end:
        if sent < n and time.monotonic() >= next_sub:
            entry = sd.Entry(sd.SUBSCRIBE, 0x1234, 0x5678, major_v, 3, eventgroup_id=group_id, options=[opt])
            sd_sock.sendto(sd.encode([entry], session_id=sent + 1), (provider, 30490))
            sent, next_sub = sent + 1, next_sub + dt
        ready, _, _ = select.select([sd_sock, ev], [], [], 0.02)
        if sd_sock in ready:
            data, _ = sd_sock.recvfrom(65536)
            for m in wire.split(data):
                if isinstance(m, wire.Message) and sd.is_sd(m):
                    acks += sum(1 for e in sd.decode(m.payload) if e.type == sd.SUBSCRIBE_ACK and e.ttl)
        if ev in ready:
            data = pending + ev.recv(65536)
            pending = b""
            for m in wire.split(data):
                if isinstance(m, wire.Malformed):  # a TCP read that ends inside a message
                    pending = data[m.offset :]
                    break
                notes.append([m.method_id, m.interface_version])
                sessions.append(m.session_id)
    if protocol == "tcp":  # reset, not close: no TIME_WAIT on port 40000 for the next test's consumer
        ev.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ev.close()
    print(json.dumps({"acks": acks, "notifications": notes, "sessions": sessions}), flush=True)


if __name__ == "__main__":
    main()
