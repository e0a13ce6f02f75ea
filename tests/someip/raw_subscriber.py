"""A subscriber built from raw SD, renewing as vsomeip does (a Subscribe every ``PERIOD`` s).

    python tests/someip/raw_subscriber.py MY_IP PROVIDER_IP EVENTGROUP MAJOR COUNT PERIOD

Sends COUNT Subscribes (TTL 3) for 0x1234.0x5678 EVENTGROUP to PROVIDER_IP, receives on
MY_IP:40000 (UDP) and prints one JSON line: the acks, and every notification as
[event id, interface version].
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time

from vehicle_mw.someip import sd, wire


def main() -> None:
    ip, provider, group, major, count, period = sys.argv[1:7]
    group_id, major_v, n, dt = int(group), int(major), int(count), float(period)
    sd_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sd_sock.bind((ip, 30490))
    ev = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ev.bind((ip, 40000))
    opt = sd.Option(sd.OPTION_IPV4_ENDPOINT, ip, sd.UDP, 40000)
    acks, notes = 0, []
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
            data, _ = ev.recvfrom(65536)
            notes += [
                [m.method_id, m.interface_version] for m in wire.split(data) if isinstance(m, wire.Message)
            ]
    print(json.dumps({"acks": acks, "notifications": notes}), flush=True)


if __name__ == "__main__":
    main()
