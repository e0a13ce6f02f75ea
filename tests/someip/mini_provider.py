"""A provider that serves an eventgroup over multicast (as vsomeip does), built from raw SD.

    python tests/someip/mini_provider.py IP GROUP PORT

Offers 0x1234.0x5678 on IP:30509, acknowledges every Subscribe with an IPv4 multicast
option GROUP:PORT and, once subscribed, sends a wheel_speeds event to the group every
20 ms. Stops when stdin closes.
"""

from __future__ import annotations

import select
import socket
import struct
import sys

from vehicle_mw.someip import sd, wire


def main() -> None:
    ip, group, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sd_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sd_sock.bind((ip, 30490))
    sd_sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
    ev_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ev_sock.bind((ip, 30509))
    ev_sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
    udp = sd.Option(sd.OPTION_IPV4_ENDPOINT, ip, sd.UDP, 30509)
    mcast = sd.Option(sd.OPTION_IPV4_MULTICAST, group, sd.UDP, port)
    session, subscribed, counter = 1, False, 0
    print("ready", flush=True)
    ticks = 0
    while True:
        ready, _, _ = select.select([sd_sock, sys.stdin], [], [], 0.02)
        if sys.stdin in ready and not sys.stdin.readline():
            return
        if sd_sock in ready:
            data, peer = sd_sock.recvfrom(65536)
            for msg in wire.split(data):
                if not isinstance(msg, wire.Message) or not sd.is_sd(msg):
                    continue
                for e in sd.decode(msg.payload):
                    if e.type == sd.SUBSCRIBE and e.ttl:
                        session += 1
                        ack = sd.Entry(
                            sd.SUBSCRIBE_ACK,
                            e.service_id,
                            e.instance_id,
                            e.major_version,
                            e.ttl,
                            eventgroup_id=e.eventgroup_id,
                            options=[mcast],
                        )
                        sd_sock.sendto(sd.encode([ack], session_id=session), peer)
                        subscribed = True
        ticks += 1
        if ticks % 10 == 1:
            session += 1
            offer = sd.Entry(sd.OFFER, 0x1234, 0x5678, 1, 2, options=[udp])
            sd_sock.sendto(sd.encode([offer], session_id=session, unicast=False), ("224.224.224.245", 30490))
        if subscribed:
            counter += 1
            payload = struct.pack(">ffff", counter, 2.0, 3.0, 4.0)
            ev_sock.sendto(
                wire.build(0x1234, 0x8001, payload, session_id=counter & 0xFFFF or 1), (group, port)
            )


if __name__ == "__main__":
    main()
