"""Listens to SOME/IP-SD on the multicast group and prints one JSON line per SD message:
[flags, session id, [entry names]], until SECONDS passed or COUNT messages were seen.
``python tests/someip/sd_listener.py IP SECONDS COUNT``."""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import time

from vehicle_mw.someip import sd, wire


def main() -> None:
    ip, seconds, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("224.224.224.245", 30490))
    mreq = struct.pack("4s4s", socket.inet_aton("224.224.224.245"), socket.inet_aton(ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end and count > 0:
        if not select.select([sock], [], [], 0.05)[0]:
            continue
        data, _ = sock.recvfrom(65536)
        for m in wire.split(data):
            if isinstance(m, wire.Message) and sd.is_sd(m):
                names = [e.name for e in sd.decode(m.payload)]
                print(json.dumps([m.payload[0], m.session_id, names]), flush=True)
                count -= 1


if __name__ == "__main__":
    main()
