"""The whole-file reader of plain candump/TRC logs gives exactly what python-can's readers give,
declines everything else, and replay through it delivers the same records as through python-can."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from vehicle_mw.can import log_columns
from vehicle_mw.can import replay as replay_mod
from vehicle_mw.can.frames import message_flags
from vehicle_mw.can.log_columns import read_columns
from vehicle_mw.can.replay import open_log, read_messages, replay_log
from vehicle_mw.can.sink import CollectingSink

ROOT = pathlib.Path(__file__).resolve().parent.parent
PRIUS = ROOT / "data" / "opendbc" / "prius_random.log"
SHARED = ROOT.parent.parent / "shared" / "data" / "eldominio-canbuslogs"
REAL = [
    "genesis/autologgenesis.log",  # candump -L, 55k frames
    "Yaris_09/engineonaconoffstockecu.trc",  # PCAN-View TRC 1.1
    "audia2_mk/noecu.trc",
    "xb/revrevrev.log",
]
TRC_HEAD = b";$FILEVERSION=1.1\n;$STARTTIME=45678.9015631597\n;   comment\n"


def same_as_python_can(path: pathlib.Path) -> None:
    cols = read_columns(path)
    assert cols is not None, f"{path} is a plain log the fast reader should take"
    msgs = list(read_messages(open_log(path), path))
    assert len(cols) == len(msgs)
    rec = cols.records
    assert cols.timestamp_s.tolist() == [m.timestamp for m in msgs]
    assert rec["can_id"].tolist() == [m.arbitration_id for m in msgs]
    assert rec["flags"].tolist() == [message_flags(m) for m in msgs]
    assert rec["len"].tolist() == [len(m.data or b"") for m in msgs]
    assert cols.channels == [m.channel for m in msgs]
    for i, m in enumerate(msgs):
        data = bytes(m.data or b"")
        assert bytes(rec["data"][i][: len(data)]) == data and not rec["data"][i][len(data) :].any(), i


def test_repo_candump_log_reads_like_python_can():
    same_as_python_can(PRIUS)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data (real traces) not present")
@pytest.mark.parametrize("name", REAL)
def test_real_traces_read_like_python_can(name):
    same_as_python_can(SHARED / name)


def test_written_trc_and_candump_variants(tmp_path):
    trc = tmp_path / "a.trc"
    trc.write_bytes(
        TRC_HEAD + b"     1)         9.0  Rx         0260  8  00 00 00 00 00 00 00 6A \n"
        b";   a comment between frames\n\n"
        b"     2)        10.5  Tx     18FEF100  3  01 02 FF \n"
        b"     3)        11.0  Rx         0394  0 \n"
    )
    same_as_python_can(trc)
    log = tmp_path / "b.log"
    log.write_bytes(b"(1.000000) can0 123#\n(1.5) vcan1 1ABCDEF0#0102\n\n(2.25) 3 7FF#DEADBEEF  \n")
    same_as_python_can(log)
    assert read_columns(log).channels == ["can0", "vcan1", 3]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "suffix,body",
    [
        (".log", b"(1.0) can0 123##1AABB\n"),  # CAN FD
        (".log", b"(1.0) can0 123#R\n"),  # remote frame
        (".log", b"(1.0) can0 20000080#0000000000000000\n"),  # error frame
        (".log", b"(1.0) can0 123#0102 R\n"),  # direction column
        (".log", b"(1.0) can0 1234#01\n"),  # 4-digit id: python-can's call (extended)
        (".log", b"(1.0)  can0 123#01\n"),  # two spaces
        (".log", b"(1.0) can0 123#010\n"),  # odd number of hex digits
        (".log", b"(1.0) can0 123#01\r\n"),  # CRLF
        (".log", b"; comment\n(1.0) can0 123#01\n"),
        (".log", b""),
        (".trc", TRC_HEAD.replace(b"1.1", b"2.1") + b"  1)  9.0  Rx  0260  1  00\n"),  # other version
        (".trc", b";$FILEVERSION=1.1\n  1)  9.0  Rx  0260  1  00\n"),  # no start time
        (".trc", TRC_HEAD + b"  1)  9.0  Rx  0260  2  00\n"),  # fewer bytes than the DLC
        (".trc", TRC_HEAD + b"  1)  9.0  Rx  0260  1  00 11\n"),  # more bytes than the DLC
        (".trc", TRC_HEAD + b"  1)  9.0  Rx  0260  8  RTR\n"),
        (".trc", TRC_HEAD + b"  1)  9.0  Error  0260  1  00\n"),
        (".asc", b"date Mon Jan 1 00:00:00 2024\n"),  # another format altogether
    ],
)
def test_anything_else_is_left_to_python_can(tmp_path, suffix, body):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(body)
    assert read_columns(path) is None


def test_missing_files_are_left_to_python_can(tmp_path):
    assert read_columns(tmp_path / "missing.log") is None


def test_small_blocks_and_chunks_read_the_same(monkeypatch):
    """Chunk and block edges fall anywhere: lines split across reads are joined, numbers continue."""
    whole = read_columns(PRIUS)
    monkeypatch.setattr(log_columns, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(log_columns, "CHUNK_LINES", 7)
    plain = log_columns.open_plain(PRIUS)
    assert plain is not None and len(list(plain.chunks())) > 100
    same_as_python_can(PRIUS)
    assert read_columns(PRIUS).records.tobytes() == whole.records.tobytes()  # type: ignore[union-attr]


def test_a_log_that_stops_being_plain_while_replaying_is_a_clear_error(tmp_path):
    log = tmp_path / "growing.log"
    log.write_bytes(PRIUS.read_bytes())
    plain = log_columns.open_plain(log)
    assert plain is not None
    log.write_bytes(PRIUS.read_bytes() + b"(1.0) can0 123##1AABB\n")  # an FD frame appended
    with pytest.raises(log_columns.LogChanged, match="growing.log: changed while replaying"):
        for _chunk in plain.chunks():
            pass


def replayed(path, monkeypatch, fast: bool, **kw) -> np.ndarray:
    if not fast:
        monkeypatch.setattr(replay_mod, "open_plain", lambda _path: None)
    sink = CollectingSink()
    report = replay_log(path, sink, speed=0, **kw)
    monkeypatch.undo()
    frames = sink.frames()
    assert report.delivered == len(frames)
    return frames


@pytest.mark.parametrize("kw", [{}, {"loops": 3}, {"loops": 2, "resume": {0: 1500}}, {"bus_id": 4}])
def test_replay_through_columns_delivers_what_python_can_does(monkeypatch, kw):
    fast = replayed(PRIUS, monkeypatch, True, **kw)
    slow = replayed(PRIUS, monkeypatch, False, **kw)
    assert len(fast) >= 500
    assert fast.tobytes() == slow.tobytes()  # every field of every record, numbers and times included
    assert np.all(np.diff(fast["seq"].astype(np.int64)) == 1)


def test_replay_through_columns_maps_channels_to_buses(tmp_path, monkeypatch):
    log = tmp_path / "two.log"
    log.write_bytes(b"".join(b"(%d.5) can%d %03X#%02X\n" % (i, i % 2, 0x100 + i, i) for i in range(40)))
    kw = {"channel_map": {"can0": 0, "can1": 1}, "loops": 2, "resume": {1: 7}}
    fast = replayed(log, monkeypatch, True, **kw)
    slow = replayed(log, monkeypatch, False, **kw)
    assert fast.tobytes() == slow.tobytes()
    assert sorted(set(fast["bus_id"].tolist())) == [0, 1]
    assert fast["seq"][fast["bus_id"] == 1].tolist() == list(range(7, 40))
