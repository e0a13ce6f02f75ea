"""Just enough pcap/pcapng to read SOME/IP captures and to write packets for tshark."""

from __future__ import annotations

import pathlib
import struct
from collections.abc import Iterator
from typing import NamedTuple


class Packet(NamedTuple):
    proto: str  # "udp" / "tcp"
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _from_ipv4(data: bytes) -> Packet | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0xF) * 4
    total = struct.unpack_from(">H", data, 2)[0]
    proto, src, dst = data[9], _ip(data[12:16]), _ip(data[16:20])
    seg = data[ihl:total]
    if proto == 17:
        sport, dport, length = struct.unpack_from(">HHH", seg)
        return Packet("udp", (src, sport), (dst, dport), seg[8:length])
    if proto == 6:
        sport, dport = struct.unpack_from(">HH", seg)
        off = (seg[12] >> 4) * 4
        return Packet("tcp", (src, sport), (dst, dport), seg[off:])
    return None


def _link(linktype: int, frame: bytes) -> Packet | None:
    if linktype == 1:  # Ethernet (with optional 802.1Q)
        etype, off = struct.unpack_from(">H", frame, 12)[0], 14
        if etype == 0x8100:
            etype, off = struct.unpack_from(">H", frame, 16)[0], 18
        return _from_ipv4(frame[off:]) if etype == 0x0800 else None
    if linktype == 113:  # Linux cooked v1
        return _from_ipv4(frame[16:])
    if linktype == 276:  # Linux cooked v2
        return _from_ipv4(frame[20:])
    if linktype in (101, 228):  # raw IP
        return _from_ipv4(frame)
    return None


def read(path: pathlib.Path) -> Iterator[Packet]:
    data = path.read_bytes()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng(data)
    else:
        endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
        linktype = struct.unpack_from(endian + "I", data, 20)[0]
        off = 24
        while off + 16 <= len(data):
            caplen = struct.unpack_from(endian + "I", data, off + 8)[0]
            pkt = _link(linktype, data[off + 16 : off + 16 + caplen])
            if pkt:
                yield pkt
            off += 16 + caplen


def _pcapng(data: bytes) -> Iterator[Packet]:
    endian, off, linktypes = "<", 0, []
    while off + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, off)[0]
        if btype == 0x0A0D0D0A:
            endian = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack_from(endian + "I", data, off + 4)[0]
        if btype == 1:
            linktypes.append(struct.unpack_from(endian + "H", data, off + 8)[0])
        elif btype == 6:
            iface, _, _, caplen = struct.unpack_from(endian + "IIII", data, off + 8)
            pkt = _link(linktypes[iface], data[off + 28 : off + 28 + caplen])
            if pkt:
                yield pkt
        off += blen


def write_udp(path: pathlib.Path, packets: list[tuple[tuple[str, int], tuple[str, int], bytes]]) -> None:
    """A classic pcap (raw IPv4 link type) of UDP datagrams."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    for i, (src, dst, payload) in enumerate(packets):
        udp = struct.pack(">HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
        ip = struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            i,
            0,
            64,
            17,
            0,
            bytes(int(x) for x in src[0].split(".")),
            bytes(int(x) for x in dst[0].split(".")),
        )
        csum = sum(struct.unpack(">10H", ip))
        csum = (csum & 0xFFFF) + (csum >> 16)
        csum = (csum & 0xFFFF) + (csum >> 16)
        ip = ip[:10] + struct.pack(">H", ~csum & 0xFFFF) + ip[12:]
        frame = ip + udp
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
