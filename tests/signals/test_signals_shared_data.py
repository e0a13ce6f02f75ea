"""Native decoding equals cantools on the real traces and every loadable database in ../shared/data."""

from __future__ import annotations

import time

import pytest
from signals_oracle import compare, random_frames

from vehicle_mw.can.replay import replay_log
from vehicle_mw.can.sink import CollectingSink
from vehicle_mw.signals import DatabaseError, Decoder, load_catalog

# (trace, database, strict, j1939) -- DATA.md "good pairs"
GOOD_PAIRS = [
    ("eldominio-canbuslogs/genesis/autologgenesis.log", "opendbc/dbc/hyundai_i30_2014.dbc", False, False),
    (
        "eldominio-canbuslogs/Yaris_09/engineonaconoffstockecu.trc",
        "eldominio-canbuslogs/Yaris_09/toyota_iQ_2009_can.dbc",
        False,
        False,
    ),
    ("eldominio-canbuslogs/audia2_mk/noecu.trc", "opendbc/dbc/vw_pq.dbc", False, False),
    (
        "css-electronics/other/matlab-basics/LOG/11111111/00000012/00000001.MF4",
        "canmatrix/j1939.dbc",
        False,
        True,
    ),
]
DATABASE_GLOBS = [
    "opendbc/dbc/*.dbc",
    "cantools/dbc/*.dbc",
    "cantools/dbc/*.DBC",
    "cantools/arxml/*.arxml",
    "cantools/kcd/*.kcd",
    "cantools/sym/*.sym",
    "canmatrix/**/*.dbc",
    "canmatrix/**/*.arxml",
    "canmatrix/**/*.kcd",
    "canmatrix/**/*.sym",
    "css-electronics/dbc/*.dbc",
    "eldominio-canbuslogs/**/*.dbc",
]
PAYLOADS_PER_MESSAGE = 100
TIME_BUDGET_S = 90.0


@pytest.mark.parametrize("trace,dbc,strict,j1939", GOOD_PAIRS, ids=[p[0].split("/")[-1] for p in GOOD_PAIRS])
def test_real_trace_decodes_like_cantools(shared_data, trace, dbc, strict, j1939):
    if trace.endswith(".MF4"):
        pytest.importorskip("asammdf", reason="MF4 logs need asammdf (extra 'mf4')")
    sink = CollectingSink()
    replay_log(shared_data / trace, sink, speed=0)
    frames = sink.frames()
    catalog = load_catalog(shared_data / dbc, strict=strict, j1939=j1939)
    decoder = Decoder(catalog)
    samples = decoder.decode_array(frames)
    compared, problems = compare(catalog, frames, samples)
    assert problems[:5] == []
    assert compared > 0.3 * len(frames)
    stats = decoder.stats()
    assert stats.frames == len(frames)
    assert stats.decoded + stats.unknown + stats.too_short + stats.error_frames + stats.remote == len(frames)


def _loadable(shared_data):
    seen = set()
    for pattern in DATABASE_GLOBS:
        for path in sorted(shared_data.glob(pattern)):
            if path in seen:
                continue
            seen.add(path)
            for strict in (True, False):
                try:
                    yield path, load_catalog(path, strict=strict)
                    break
                except DatabaseError:
                    continue


def test_random_payloads_of_every_loadable_database(shared_data):
    start = time.monotonic()
    checked = compared_total = 0
    failures = []
    for path, catalog in _loadable(shared_data):
        if not catalog.messages:
            continue
        frames = random_frames(catalog, PAYLOADS_PER_MESSAGE, seed=len(path.name))
        samples = Decoder(catalog).decode_array(frames)
        compared, problems = compare(catalog, frames, samples)
        compared_total += compared
        checked += 1
        failures += [f"{path.name}: {p}" for p in problems[:3]]
        assert time.monotonic() - start < TIME_BUDGET_S * 2, "random-payload check far over its time budget"
    assert failures == []
    assert checked >= 50 and compared_total > 100_000
