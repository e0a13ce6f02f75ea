"""J1939 PGN matching per J1939-21: PDU1 (PF < 240) by EDP/DP/PF, the destination address kept as ``$da``."""

from __future__ import annotations

import cantools
import numpy as np
import pytest
from signals_oracle import compare, j1939_pgn

from vehicle_mw.native import FRAME_DTYPE
from vehicle_mw.native.records import FRAME_EXTENDED
from vehicle_mw.signals import Decoder, load_catalog, sample_values
from vehicle_mw.signals.catalog import J1939_DA_SIGNAL

# A tiny J1939 DBC written for these tests: TSC1 (PDU1, PGN 0x0000, DBC id to DA 0x00), Request
# (PDU1, PGN 0xEA00), EEC1 (PDU2, PGN 0xF004).
DBC = """VERSION ""
NS_ :
BS_:
BU_:
BO_ 2348810240 TSC1: 8 Vector__XXX
 SG_ OverrideMode : 0|2@1+ (1,0) [0|3] "" Vector__XXX
 SG_ RequestedSpeed : 8|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
BO_ 2565537790 RQST: 3 Vector__XXX
 SG_ RequestedPGN : 0|24@1+ (1,0) [0|16777215] "" Vector__XXX
BO_ 2364540158 EEC1: 8 Vector__XXX
 SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] "rpm" Vector__XXX
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_DEF_ "ProtocolType" STRING ;
BA_DEF_DEF_ "ProtocolType" "J1939";
BA_ "ProtocolType" "J1939";
"""


@pytest.fixture
def dbc(tmp_path):
    p = tmp_path / "j1939_small.dbc"
    p.write_text(DBC)
    return p


def frames_of(rows):
    f = np.zeros(len(rows), FRAME_DTYPE)
    for i, (can_id, data) in enumerate(rows):
        f[i]["seq"], f[i]["can_id"], f[i]["flags"], f[i]["len"] = i, can_id, FRAME_EXTENDED, len(data)
        f[i]["data"][: len(data)] = np.frombuffer(data, np.uint8)
    return f


def test_pdu1_matches_any_destination_and_keeps_it(dbc):
    catalog = load_catalog(dbc, j1939=True)
    rows = [
        (0x0C0003F1, bytes([1, 0x40, 0x1F, 0, 0, 0, 0, 0])),  # TSC1 to 3 (the DBC id says DA 0)
        (0x0C0017F1, bytes([2, 0x80, 0x0C, 0, 0, 0, 0, 0])),  # TSC1 from 0xF1 to 0x17
        (0x18EAFF21, bytes([0xCA, 0xFE, 0x00])),  # Request DM1 to global
        (0x0CF00400, bytes([0, 0, 0, 0x20, 0x1C, 0, 0, 0])),  # EEC1, PDU2
        (0x0CF00500, bytes(8)),  # PDU2 PGN 0xF005: PS is part of the PGN, unknown
    ]
    frames = frames_of(rows)
    dec = Decoder(catalog)
    samples = dec.decode_array(frames)
    compared, problems = compare(catalog, frames, samples)
    assert problems == [] and compared == 4
    got = {}
    for seq, sid, v in zip(
        samples["source_seq"].tolist(), samples["signal_id"].tolist(), sample_values(samples), strict=True
    ):
        got[(seq, catalog.by_id(sid).signal)] = v
    assert (
        got[(0, J1939_DA_SIGNAL)] == 3
        and got[(1, J1939_DA_SIGNAL)] == 0x17
        and got[(2, J1939_DA_SIGNAL)] == 0xFF
    )
    assert got[(1, "RequestedSpeed")] == 0x0C80 * 0.125 and got[(2, "RequestedPGN")] == 0xFECA
    assert (3, J1939_DA_SIGNAL) not in got  # PDU2 has no destination
    assert dec.stats().unknown == 1


def test_da_signal_ids_follow_every_database_signal(dbc):
    catalog = load_catalog(dbc, j1939=True)
    da = [s for s in catalog.signals if s.signal == J1939_DA_SIGNAL]
    plain = [s for s in catalog.signals if s.signal != J1939_DA_SIGNAL]
    assert sorted(s.message for s in da) == ["RQST", "TSC1"]
    assert min(s.id for s in da) > max(s.id for s in plain) and all(s.kind == "int" for s in da)
    assert catalog.find("TSC1.$da").from_id
    # without J1939 PDU1 messages the catalog (and its hash) is what it was: no such signals
    assert not [s for s in load_catalog(dbc, j1939=False).signals if s.from_id]


REAL_LOGS = [
    "css-electronics/other/matlab-basics/LOG/11111111/00000012/00000001.MF4",
    "css-electronics/data-processing/LOG/94C49784/00000005/00000017-6099D010.MF4",
    "css-electronics/data-processing/LOG/94C49784/00000005/00000002.MF4",
]


@pytest.mark.parametrize("trace", REAL_LOGS, ids=[t.split("/")[-1] for t in REAL_LOGS])
def test_real_j1939_log_decodes_every_frame_whose_pgn_the_dbc_defines(shared_data, dbc, trace):
    pytest.importorskip("asammdf", reason="MF4 logs need asammdf (extra 'mf4')")
    from vehicle_mw.can.replay import replay_log
    from vehicle_mw.can.sink import CollectingSink

    sink = CollectingSink()
    replay_log(shared_data / trace, sink, speed=0)
    frames = sink.frames()
    dbcs = [shared_data / "canmatrix" / "j1939.dbc", dbc]  # canmatrix's J1939 DBC + the PDU1 one above
    catalog = load_catalog(dbcs, strict=False, j1939=True)
    # reference: the PGNs the DBCs define (J1939-21, computed in signals_oracle), frames carrying them
    defined = set()
    for path in dbcs:
        for m in cantools.database.load_file(str(path), strict=False).messages:
            if m.is_extended_frame and 0 <= m.length <= 64:
                defined.add(j1939_pgn(m.frame_id))
    ext = frames[(frames["flags"] & FRAME_EXTENDED) != 0]
    want = sum(1 for cid in ext["can_id"].tolist() if j1939_pgn(cid) in defined)
    assert want > 0
    decoder = Decoder(catalog)
    samples = decoder.decode_array(frames)
    compared, problems = compare(catalog, frames, samples)
    assert problems[:5] == []
    assert decoder.stats().decoded == want == compared  # 100 % of the frames whose PGN the DBCs define
