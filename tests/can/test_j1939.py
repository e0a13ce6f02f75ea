"""J1939-21 transport protocol reassembly: BAM, RTS/CTS, aborts, timeouts, limits, bad input; DM1 decoded."""

from __future__ import annotations

import random

import cantools
import numpy as np
import pytest

from vehicle_mw.can.j1939_tp import J1939Reassembler, J1939Timeouts
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.native import FRAME_DTYPE
from vehicle_mw.native.records import FRAME_EXTENDED
from vehicle_mw.signals import load_catalog, sample_values
from vehicle_mw.signals.transport import TransportDecoder

MS = 1_000_000
CM = lambda sa, da, prio=7: prio << 26 | 0xEC << 16 | da << 8 | sa  # noqa: E731
DT = lambda sa, da, prio=7: prio << 26 | 0xEB << 16 | da << 8 | sa  # noqa: E731


def bam(size, pgn):
    return bytes([32, size & 0xFF, size >> 8, (size + 6) // 7, 0xFF, pgn & 0xFF, pgn >> 8 & 0xFF, pgn >> 16])


def rts(size, pgn, per_cts=0xFF):
    return bytes(
        [16, size & 0xFF, size >> 8, (size + 6) // 7, per_cts, pgn & 0xFF, pgn >> 8 & 0xFF, pgn >> 16]
    )


def cts(count, nxt, pgn):
    return bytes([17, count, nxt, 0xFF, 0xFF, pgn & 0xFF, pgn >> 8 & 0xFF, pgn >> 16])


def packets(payload):
    out = []
    for k in range(0, len(payload), 7):
        chunk = payload[k : k + 7]
        out.append(bytes([k // 7 + 1]) + chunk + b"\xff" * (7 - len(chunk)))
    return out


class Clock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def test_bam_reassembles_with_addresses_and_id():
    r = J1939Reassembler()
    payload = bytes(range(20))
    assert r.feed(0, CM(0x00, 0xFF), bam(20, 0xFECA), 0) is None
    got = [
        r.feed(0, DT(0x00, 0xFF), p, (i + 1) * 50 * MS, seq=10 + i) for i, p in enumerate(packets(payload))
    ]
    assert got[:-1] == [None, None]
    m = got[-1]
    assert (m.pgn, m.source, m.destination, m.data, m.seq) == (0xFECA, 0, 0xFF, payload, 12)
    assert m.can_id == 0x1CFECA00
    assert r.counters.messages == 1 and r.sessions == 0


def test_rts_cts_with_windows_retransmission_and_pdu1_id():
    r = J1939Reassembler()
    payload = bytes(range(100, 130))  # 30 bytes, 5 packets
    pk = packets(payload)
    pgn = 0xEF00  # proprietary A, PDU1: to 0x17
    r.feed(0, CM(0x21, 0x17), rts(30, pgn, per_cts=2), 0)
    assert r.feed(0, DT(0x21, 0x17), pk[0], 1) is None and r.counters.out_of_sequence == 1  # before a CTS
    r.feed(0, CM(0x17, 0x21), cts(2, 1, pgn), 2)
    r.feed(0, DT(0x21, 0x17), pk[0], 3)
    r.feed(0, DT(0x21, 0x17), pk[1], 4)
    r.feed(0, CM(0x17, 0x21), cts(2, 2, pgn), 5)  # asks for 2 again (as after a lost packet)
    r.feed(0, DT(0x21, 0x17), pk[1], 6)
    assert r.counters.duplicates == 1
    r.feed(0, DT(0x21, 0x17), pk[2], 7)
    r.feed(0, CM(0x17, 0x21), cts(0, 4, pgn), 8)  # hold
    r.feed(0, CM(0x17, 0x21), cts(2, 4, pgn), 9)
    r.feed(0, DT(0x21, 0x17), pk[3], 10)
    m = r.feed(0, DT(0x21, 0x17), pk[4], 11)
    assert m is not None and m.data == payload and (m.source, m.destination) == (0x21, 0x17)
    assert m.can_id & 0x3FFFFFF == 0xEF1721 and r.counters.rts == 1


def test_abort_from_either_side_ends_the_session():
    for sa, da in ((0x21, 0x17), (0x17, 0x21)):
        r = J1939Reassembler()
        r.feed(0, CM(0x21, 0x17), rts(20, 0xEF00), 0)
        r.feed(0, CM(sa, da), bytes([255, 1, 0xFF, 0xFF, 0xFF, 0, 0xEF, 0]), 1)
        assert r.sessions == 0 and r.counters.aborts == 1


def test_bam_packet_lost_drops_message_and_duplicates_ignored():
    r = J1939Reassembler()
    pk = packets(bytes(21))
    r.feed(0, CM(1, 0xFF), bam(21, 0xFECA), 0)
    r.feed(0, DT(1, 0xFF), pk[0], 1)
    r.feed(0, DT(1, 0xFF), pk[0], 2)
    assert r.counters.duplicates == 1 and r.sessions == 1
    assert r.feed(0, DT(1, 0xFF), pk[2], 3) is None
    assert r.counters.out_of_sequence == 1 and r.sessions == 0
    assert r.feed(0, DT(1, 0xFF), pk[1], 4) is None and r.counters.orphan_packets == 1


@pytest.mark.parametrize(
    "name,steps,timeout",
    [
        ("T1 between BAM packets", [("bam", 0), ("dt1", 100)], 750),
        ("T3 waiting for CTS", [("rts", 0)], 1250),
        ("T2 after CTS", [("rts", 0), ("cts", 10)], 1250),
        ("T4 after a hold", [("rts", 0), ("hold", 10)], 1050),
        ("T1 between connection packets", [("rts", 0), ("cts", 10), ("dt1", 20)], 750),
    ],
)
def test_every_timeout_on_frame_time_and_idle_clock(name, steps, timeout):
    clock = Clock()
    for idle in (False, True):
        r = J1939Reassembler(clock=clock)
        pk = packets(bytes(30))
        last = 0
        for what, t in steps:
            ts = t * MS
            last = ts
            clock.now = ts
            if what == "bam":
                r.feed(0, CM(1, 0xFF), bam(30, 0xFECA), ts)
            elif what == "rts":
                r.feed(0, CM(1, 2), rts(30, 0xEF00), ts)
            elif what == "cts":
                r.feed(0, CM(2, 1), cts(5, 1, 0xEF00), ts)
            elif what == "hold":
                r.feed(0, CM(2, 1), cts(0, 1, 0xEF00), ts)
            else:
                r.feed(0, DT(1, 0xFF if steps[0][0] == "bam" else 2), pk[0], ts)
        deadline = last + timeout * MS
        if idle:
            clock.now = deadline
            assert r.expire_idle() == 0 and r.sessions == 1
            clock.now = deadline + 1
            assert r.expire_idle() == 1
        else:
            assert r.expire(deadline) == 0
            assert r.expire(deadline + 1) == 1
        assert r.sessions == 0 and r.counters.timeouts == 1, name


def test_custom_timeouts_and_late_packet_is_orphan():
    r = J1939Reassembler(timeouts=J1939Timeouts(t1=10 * MS))
    r.feed(0, CM(1, 0xFF), bam(9, 0xFECA), 0)
    assert r.feed(0, DT(1, 0xFF), packets(bytes(9))[0], 11 * MS) is None
    assert r.counters.timeouts == 1 and r.counters.orphan_packets == 1


def test_session_and_byte_limits():
    r = J1939Reassembler(max_sessions=2, max_bytes=100)
    for sa in (1, 2, 3):
        r.feed(0, CM(sa, 0xFF), bam(20, 0xFECA), 0)
    assert r.sessions == 2 and r.counters.refused_sessions == 1
    r.feed(1, CM(9, 0xFF), bam(101, 0xFECA), 0)
    assert r.counters.too_long == 1 and r.sessions == 2
    r.feed(0, CM(1, 0xFF), bam(20, 0xFECA), 1)  # the same source again: the old one is replaced
    assert r.counters.replaced == 1 and r.sessions == 2
    with pytest.raises(ValueError):
        J1939Reassembler(max_bytes=5000)


def test_sessions_are_keyed_by_bus_and_addresses():
    r = J1939Reassembler()
    a, b = bytes(range(9)), bytes(range(50, 59))
    for bus in (0, 1):
        r.feed(bus, CM(1, 0xFF), bam(9, 0xFECA), 0)
    r.feed(0, CM(1, 2), rts(9, 0xEF00), 0)
    assert r.sessions == 3
    assert r.feed(1, DT(1, 0xFF), packets(b)[0], 1) is None
    assert r.feed(1, DT(1, 0xFF), packets(b)[1], 1).data == b
    r.feed(0, CM(2, 1), cts(2, 1, 0xEF00), 2)
    assert r.feed(0, DT(1, 2), packets(a)[0], 3) is None
    assert r.feed(0, DT(1, 0xFF), packets(a)[0], 4) is None
    assert r.feed(0, DT(1, 0xFF), packets(a)[1], 4).data == a
    assert r.feed(0, DT(1, 2), packets(a)[1], 5).data == a


def test_malformed_frames_are_counted_never_raised():
    r = J1939Reassembler(max_sessions=4)
    bad = [
        (CM(1, 0xFF), b"\x20\x09"),  # short CM
        (CM(1, 0xFF), bam(8, 0xFECA)),  # too small for TP
        (CM(1, 0xFF), bytes([32, 20, 0, 9, 0xFF, 0xCA, 0xFE, 0])),  # packets do not match size
        (CM(1, 2), bam(20, 0xFECA)),  # BAM to one node
        (CM(1, 0xFF), rts(20, 0xFECA)),  # RTS to everyone
        (CM(1, 0xFF), bytes([99] + [0] * 7)),  # unknown control byte
        (0x18F00400, bytes(8)),  # not a TP PGN
    ]
    for can_id, data in bad:
        assert r.feed(0, can_id, data, 0) is None
    assert r.counters.malformed == len(bad) and r.sessions == 0
    rng = random.Random(7)
    for i in range(20_000):
        can_id = rng.choice(
            [CM(rng.randrange(4), rng.choice([0xFF, 1, 2])), DT(rng.randrange(4), rng.choice([0xFF, 1]))]
        )
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 9)))
        if rng.random() < 0.3 and data:
            data = bytes([rng.choice([16, 17, 19, 32, 255])]) + data[1:]
        r.feed(rng.randrange(2), can_id, data, i * MS)
        assert r.sessions <= 4


# -- end to end: DM1 over BAM, decoded with a DBC ------------------------------------------------------
DM1_DBC = """VERSION ""
NS_ :
BS_:
BU_:
BO_ 2566834942 DM1: 18 Vector__XXX
 SG_ MIL : 6|2@1+ (1,0) [0|3] "" Vector__XXX
 SG_ SPN1 : 16|19@1+ (1,0) [0|524287] "" Vector__XXX
 SG_ FMI1 : 35|5@1+ (1,0) [0|31] "" Vector__XXX
 SG_ OC1 : 40|7@1+ (1,0) [0|126] "" Vector__XXX
 SG_ SPN4 : 112|19@1+ (1,0) [0|524287] "" Vector__XXX
 SG_ FMI4 : 131|5@1+ (1,0) [0|31] "" Vector__XXX
BO_ 2364540158 EEC1: 8 Vector__XXX
 SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
BA_DEF_ "ProtocolType" STRING ;
BA_DEF_DEF_ "ProtocolType" "J1939";
BA_ "ProtocolType" "J1939";
"""


def frames_of(rows):
    f = np.zeros(len(rows), FRAME_DTYPE)
    for i, (can_id, data) in enumerate(rows):
        f[i]["seq"], f[i]["timestamp_ns"], f[i]["can_id"] = i, i * 50 * MS, can_id
        f[i]["flags"], f[i]["len"] = FRAME_EXTENDED, len(data)
        f[i]["data"][: len(data)] = np.frombuffer(data, np.uint8)
    return f


def test_dm1_over_bam_decodes_like_cantools_and_ordinary_frames_unchanged(tmp_path):
    path = tmp_path / "dm1.dbc"
    path.write_text(DM1_DBC)
    bus = CanBus(name="j", channel="vcan0", databases=[str(path)], j1939=True, j1939_tp=True)
    catalog = load_catalog([bus])
    dm1 = (
        bytes([0x40, 0xFF])
        + bytes([0x64, 0x00, 0x03, 0x81, 0x6E, 0x00, 0x04, 0x02])
        + bytes([0x01, 0x02, 0x03, 0x04, 0xBE, 0x0F, 0x05, 0x01])
    )
    rows = [(0x0CF00400, bytes([0, 0, 0, 0x20, 0x1C, 0, 0, 0])), (CM(0x00, 0xFF), bam(18, 0xFECA))]
    for p in packets(dm1):
        rows += [(DT(0x00, 0xFF), p), (0x0CF00400, bytes([0, 0, 0, 0x40, 0x1C, 0, 0, 0]))]
    rows.append((DT(0x00, 0xFF), b"\x09\x00\x00"))  # garbage: never raises
    frames = frames_of(rows)
    td = TransportDecoder(catalog)
    samples = td.decode_array(frames)
    got = {}
    for seq, sid, v in zip(
        samples["source_seq"].tolist(), samples["signal_id"].tolist(), sample_values(samples), strict=True
    ):
        got.setdefault(seq, {})[catalog.by_id(sid).signal] = v
    want = cantools.database.load_file(str(path)).get_message_by_name("DM1").decode(dm1, decode_choices=False)
    last_dt = 2 + 2 * 2  # seq of the third TP.DT
    assert got[last_dt] == want
    assert [got[s]["EngineSpeed"] for s in (0, 3, 5, 7)] == [0x1C20 * 0.125] + [0x1C40 * 0.125] * 3
    assert list(samples["source_seq"]) == sorted(samples["source_seq"])
    c = td.counters()
    assert (
        c["messages_decoded"] == 1 and c["diverted_frames"] == 5 and c["0"]["j1939_tp"]["orphan_packets"] == 1
    )
    assert td.stats().unknown == 0


def test_real_log_bam_ec1_decodes_like_cantools(shared_data):
    pytest.importorskip("asammdf", reason="MF4 logs need asammdf (extra 'mf4')")
    from vehicle_mw.can.replay import replay_log
    from vehicle_mw.can.sink import CollectingSink

    trace = shared_data / "css-electronics/other/matlab-basics/LOG/11111111/00000012/00000001.MF4"
    dbc = shared_data / "canmatrix" / "j1939.dbc"
    sink = CollectingSink()
    replay_log(trace, sink, speed=0)
    frames = sink.frames()
    bus = CanBus(name="j", channel="x", databases=[str(dbc)], strict=False, j1939=True, j1939_tp=True)
    catalog = load_catalog([bus])
    td = TransportDecoder(catalog)
    samples = td.decode_array(frames)
    # reference: BAM payloads put together here (each TP.DT's 7 bytes in order), decoded by cantools
    ec1 = cantools.database.load_file(str(dbc), strict=False).get_message_by_name("EC1")
    want, cur = {}, None
    for f in frames:
        d = bytes(f["data"][: f["len"]])
        if f["can_id"] == 0x1CECFF00:
            cur = (d[5] | d[6] << 8, d[1] | d[2] << 8, bytearray())
        elif f["can_id"] == 0x1CEBFF00 and cur:
            cur[2].extend(d[1:8])
            if len(cur[2]) >= cur[1]:
                if cur[0] == 0xFEE3:
                    want[int(f["seq"])] = ec1.decode(bytes(cur[2][: cur[1]]), decode_choices=False)
                cur = None
    assert len(want) == 25
    got = {}
    for seq, sid, v in zip(
        samples["source_seq"].tolist(), samples["signal_id"].tolist(), sample_values(samples), strict=True
    ):
        if catalog.by_id(sid).message == "EC1":
            got.setdefault(seq, {})[catalog.by_id(sid).signal] = v
    assert got == {k: {n: v for n, v in w.items() if n in got.get(k, {})} for k, w in want.items()}
    assert all(len(g) >= 20 for g in got.values())
    c = td.counters()["0"]["j1939_tp"]
    assert c["bam"] == 152 and c["messages"] == 152 and c["timeouts"] == c["malformed"] == 0


def test_ring_to_ring_thread_decodes_reassembled_messages(tmp_path):
    import os
    import time

    from vehicle_mw.native import FRAME_SIZE, SAMPLE_DTYPE, SAMPLE_SIZE, SlotRing
    from vehicle_mw.signals.transport import TransportDecoderThread, decoder_thread
    from vehicle_mw.signals.worker import DecoderThread

    path = tmp_path / "dm1.dbc"
    path.write_text(DM1_DBC)
    buses = [
        CanBus(name="j", channel="vcan0", databases=[str(path)], j1939=True, j1939_tp=True),
        CanBus(name="plain", channel="vcan1", databases=[str(path)], j1939=True),
    ]
    catalog = load_catalog(buses)
    tag = f"{os.getpid()}.{time.monotonic_ns()}"
    frames = SlotRing.create(f"/vmw.test.tp.f.{tag}", FRAME_SIZE, 64)
    samples = SlotRing.create(
        f"/vmw.test.tp.s.{tag}", SAMPLE_SIZE, 16
    )  # small: the thread must wait for room
    try:
        assert isinstance(decoder_thread(catalog, 1, frames, samples, name="x"), DecoderThread)
        dm1 = bytes([0x40, 0xFF]) + bytes(range(16))
        rows = []
        for _ in range(10):
            rows += [(CM(0, 0xFF), bam(18, 0xFECA))] + [(DT(0, 0xFF), p) for p in packets(dm1)]
        f = frames_of(rows)
        t = decoder_thread(catalog, 0, frames, samples, name="decode-j")
        assert isinstance(t, TransportDecoderThread)
        got = []
        with t:
            pushed = 0
            deadline = time.monotonic() + 20
            while (pushed < len(f) or len(got) < 60) and time.monotonic() < deadline:
                pushed += frames.push_batch(f[pushed:]) if pushed < len(f) else 0
                if samples.wait(0.05):
                    got.append(np.frombuffer(samples.pop_batch(64), SAMPLE_DTYPE))
                    got = [np.concatenate(got)]
                    if len(got[0]) >= 60:
                        break
        assert t.error is None
        out = got[0]
        assert len(out) == 60 and t.transport_counters()["messages_decoded"] == 10
        assert out["source_seq"].tolist() == sorted(out["source_seq"].tolist())
    finally:
        for r in (frames, samples):
            r.close()
            r.unlink()
