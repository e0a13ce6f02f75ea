"""Native decoding equals cantools on the in-repo databases (plain clone, no shared data)."""

from __future__ import annotations

import pathlib

import can
import numpy as np
import pytest
from signals_oracle import compare, random_frames

from vehicle_mw.can.frames import frames_from_messages
from vehicle_mw.native import FRAME_DTYPE, SAMPLE_DTYPE
from vehicle_mw.native.records import FRAME_ERROR, FRAME_EXTENDED, FRAME_RTR, SAMPLE_CHOICE
from vehicle_mw.signals import Decoder, load_catalog

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
PRIUS_DBC = DATA / "opendbc" / "toyota_prius_2010_pt.dbc"
PRIUS_LOG = DATA / "opendbc" / "prius_random.log"
IN_REPO_DBS = sorted(
    p for p in (DATA / "cantools").iterdir() if p.suffix in (".dbc", ".arxml", ".kcd", ".sym")
) + [PRIUS_DBC]


def test_prius_trace_decodes_like_cantools():
    catalog = load_catalog(PRIUS_DBC)
    decoder = Decoder(catalog)
    frames = frames_from_messages(can.LogReader(str(PRIUS_LOG)))
    samples = decoder.decode_array(frames)
    compared, problems = compare(catalog, frames, samples)
    assert problems == []
    assert compared == len(frames) - 3  # all but two unknown frames and one empty frame
    stats = decoder.stats()
    assert stats.unknown == 2 and stats.too_short == 1
    assert decoder.unknown_ids() == {(0, False, 0x7FF): 2}
    assert sum(decoder.short_ids().values()) == 1
    assert stats.samples == len(samples)


@pytest.mark.parametrize("dbc", IN_REPO_DBS, ids=lambda p: p.name)
def test_random_payloads_decode_like_cantools(dbc):
    catalog = load_catalog(dbc, strict=False)
    frames = random_frames(catalog, per_message=300, seed=4)
    samples = Decoder(catalog).decode_array(frames)
    compared, problems = compare(catalog, frames, samples)
    assert problems[:5] == []
    assert compared > 0.5 * len(frames)


def test_multiplexed_signals_follow_their_multiplexer():
    catalog = load_catalog(DATA / "cantools" / "multiplex_2.dbc")
    muxed = [m for m in catalog.messages if any(s.layout.mux_parent for s in m.signals)]
    assert muxed, "the fixture has multiplexed messages"
    nested = [
        s
        for m in muxed
        for s in m.signals
        if s.layout.mux_parent
        and s.layout.mux_ids
        and next(p for p in m.signals if p.signal == s.layout.mux_parent).layout.mux_parent
    ]
    assert nested, "the fixture has nested (extended) multiplexing"


def test_j1939_matches_by_pgn_whatever_priority_and_source():
    catalog = load_catalog(DATA / "cantools" / "j1939.dbc", j1939=True)
    entry = next(m for m in catalog.messages if m.j1939)
    frames = np.zeros(2, FRAME_DTYPE)
    for i, (prio, sa) in enumerate([(3, 0x00), (6, 0xFE)]):
        frames[i]["can_id"] = (entry.frame_id & 0x03FFFF00) | (prio << 26) | sa
        frames[i]["flags"] = FRAME_EXTENDED
        frames[i]["len"] = entry.length
        frames[i]["seq"] = i
    samples = Decoder(catalog).decode_array(frames)
    assert sorted(set(samples["source_seq"].tolist())) == [0, 1]
    assert len(samples) == 2 * len(entry.signals)


def test_error_and_remote_frames_are_counted_not_decoded():
    catalog = load_catalog(PRIUS_DBC)
    entry = catalog.messages[0]
    frames = np.zeros(3, FRAME_DTYPE)
    frames["can_id"] = entry.frame_id
    frames["len"] = entry.length
    frames["flags"] = [FRAME_ERROR, FRAME_RTR, 0]
    frames["seq"] = [0, 1, 2]
    decoder = Decoder(catalog)
    samples = decoder.decode_array(frames)
    assert set(samples["source_seq"].tolist()) == {2}
    stats = decoder.stats()
    assert (stats.error_frames, stats.remote, stats.decoded) == (1, 1, 1)


def test_decode_into_consumes_whole_frames_only():
    catalog = load_catalog(PRIUS_DBC)
    decoder = Decoder(catalog)
    frames = frames_from_messages(can.LogReader(str(PRIUS_LOG)))[:200]
    full = Decoder(catalog).decode_array(frames)
    out = np.zeros(max(decoder.max_samples_per_frame, 7), SAMPLE_DTYPE)
    parts, done = [], 0
    while done < len(frames):
        used, written = decoder.decode_into(frames[done:], out)
        assert used > 0
        parts.append(out[:written].copy())
        done += used
    assert np.concatenate(parts).tobytes() == full.tobytes()


def test_samples_carry_frame_time_sequence_bus_and_choice_flag():
    catalog = load_catalog(PRIUS_DBC)
    frames = frames_from_messages(can.LogReader(str(PRIUS_LOG)))[:300]
    frames["bus_id"] = 0
    samples = Decoder(catalog).decode_array(frames)
    by_seq = {int(f["seq"]): int(f["timestamp_ns"]) for f in frames}
    assert all(
        by_seq[s] == t
        for s, t in zip(samples["source_seq"].tolist(), samples["timestamp_ns"].tolist(), strict=True)
    )
    choice_ids = {s.id for s in catalog.signals if s.choices}
    assert choice_ids, "the Prius DBC has enumerated signals"
    flagged = samples["flags"] & SAMPLE_CHOICE != 0
    assert np.array_equal(flagged, np.isin(samples["signal_id"], list(choice_ids)))
