"""What the campaign tests share: trace paths, a trace decoder, a document builder, a batch feeder.

A module of its own (not conftest): ``from conftest import`` finds whichever tests/*/conftest.py
was imported first when the whole suite runs."""

from __future__ import annotations

import pathlib

import numpy as np

from vehicle_mw.campaign import campaigns_from_data
from vehicle_mw.can import CollectingSink, replay_log
from vehicle_mw.signals import Decoder, load_catalog

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO_LOG = ROOT / "vehicle_mw/demo/data/gnss_drive.log"
DEMO_DBC = ROOT / "vehicle_mw/demo/data/gnss.dbc"
PRIUS_LOG = ROOT / "tests/data/opendbc/prius_random.log"
PRIUS_DBC = ROOT / "tests/data/opendbc/toyota_prius_2010_pt.dbc"


def decode_trace(log: pathlib.Path, dbc: pathlib.Path, strict: bool = True):
    sink = CollectingSink()
    replay_log(log, sink, speed=0)
    catalog = load_catalog(dbc, strict=strict)
    return catalog, Decoder(catalog).decode_array(sink.frames())


def doc(name: str = "c1", signals=("gnss_speed.Speed",), **collection) -> dict:
    """A campaign mapping; ``collection`` keys go into the collection block."""
    coll = (
        {"type": "condition", **collection}
        if "period_ms" not in collection
        else {"type": "time", **collection}
    )
    return {
        "name": name,
        "version": 1,
        "expiry": "2099-01-01T00:00:00Z",
        "signals": [s if isinstance(s, dict) else {"name": s} for s in signals],
        "collection": coll,
    }


def campaigns(*docs: dict):
    return campaigns_from_data({"campaigns": list(docs)})


def run_batches(cs, samples: np.ndarray, batch: int):
    """Feed samples in batches; concatenated per campaign: (records, triggers, suppressed, overlaps)."""
    out = {n: ([], [], 0, 0) for n in cs.names}
    recs = {n: [] for n in cs.names}
    trigs = {n: [] for n in cs.names}
    supp = dict.fromkeys(cs.names, 0)
    over = dict.fromkeys(cs.names, 0)
    for i in range(0, len(samples), batch):
        sel = cs.process(samples[i : i + batch])
        for k, n in enumerate(cs.names):
            recs[n].append(sel.of(k))
            trigs[n] += sel.trigger_time_ns[sel.trigger_campaign == k].tolist()
            supp[n] += int(sel.suppressed[k])
            over[n] += int(sel.overlaps[k])
    for n in cs.names:
        out[n] = (np.concatenate(recs[n]) if recs[n] else np.empty(0), trigs[n], supp[n], over[n])
    return out
