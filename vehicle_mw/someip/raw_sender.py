"""Sends UDP datagrams from the service endpoint's port without owning that port.

The someipy daemon owns the provider's UDP socket; a raw socket lets the provider
put its events on the wire directly (no JSON + base64 hop through the daemon) with
the same source address and port subscribers expect. Needs CAP_NET_RAW; the raw
socket gets a drop-everything filter so it never queues incoming UDP.
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_FILTER = 26
_BPF_RET_K = 0x06


class RawUdpSender:
    """``send((ip, port), payload)`` as a UDP datagram from ``src_ip:src_port``."""

    def __init__(self, src_ip: str, src_port: int):
        self.src_port = src_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        try:
            drop_all = (ctypes.c_uint8 * 8).from_buffer_copy(struct.pack("HBBI", _BPF_RET_K, 0, 0, 0))
            program = struct.pack("HL", 1, ctypes.addressof(drop_all))  # struct sock_fprog
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            self.sock.bind((src_ip, 0))
        except OSError:
            self.sock.close()
            raise
        self._header = struct.Struct(">HHHH")

    def send(self, dst: tuple[str, int], payload: bytes) -> None:
        # checksum 0 = none (allowed for UDP over IPv4); the kernel adds the IP header
        self.sock.sendto(self._header.pack(self.src_port, dst[1], 8 + len(payload), 0) + payload, (dst[0], 0))

    def close(self) -> None:
        self.sock.close()


__all__ = ["RawUdpSender"]
