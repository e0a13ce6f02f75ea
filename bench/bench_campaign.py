"""Condition evaluations per second: the vectorized evaluator vs a per-sample Python evaluator.

Same trees, same samples of a real trace (the Hyundai Genesis drive from ../shared/data when
present, else the demo's GNSS/IMU drive), 1, 16 and 256 active conditions. An evaluation is one
condition evaluated at one evaluation point (a sample of a signal it reads). Two comparisons:

- *conditions*: ``ConditionSet.feed`` (the shared pass over all conditions' evaluation points) vs
  ``tests/campaign/campaign_reference.py``'s ``conditions_only`` (the way a Python user would write
  it); both must give the same true points, which the bench checks;
- *full*: ``CampaignSet.process`` (conditions, rising edge, 1 s minimum interval, windows and the
  selected samples) vs the reference's ``reference`` doing the same per sample; both must find
  the same triggers, checked too.

    python -m bench.bench_campaign [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from bench.common import machine_line, write_section
from vehicle_mw.campaign import CampaignSet, SignalIndex, campaigns_from_data
from vehicle_mw.campaign.batch_eval import ConditionSet
from vehicle_mw.can import CollectingSink, replay_log
from vehicle_mw.signals import Decoder, load_catalog, values_as_float

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TRACES = [
    (
        "Hyundai Genesis",
        SHARED / "eldominio-canbuslogs/genesis/autologgenesis.log",
        SHARED / "opendbc/dbc/hyundai_i30_2014.dbc",
        False,
    ),
    (
        "demo GNSS/IMU drive",
        ROOT / "vehicle_mw/demo/data/gnss_drive.log",
        ROOT / "vehicle_mw/demo/data/gnss.dbc",
        True,
    ),
]
BATCH = 65536
REPEATS = 3
TEMPLATES = [
    "{a} > {pa} and {b} < {pb}",
    "abs({a} - {b}) > {pa} or changed({c})",
    "last_window_avg({a}, 500) > {pa} and not is_null({b}, 200)",
    "max({a}, {b}) * 2 - min({b}, {c}) >= {pa}",
]


def _trace():
    for label, log, dbc, strict in TRACES:
        if log.is_file() and dbc.is_file():
            sink = CollectingSink()
            replay_log(log, sink, speed=0)
            catalog = load_catalog(dbc, strict=strict)
            return label, catalog, Decoder(catalog).decode_array(sink.frames())
    raise SystemExit("no trace found")


def _docs(catalog, samples, n: int) -> list[dict]:
    counts = np.bincount(samples["signal_id"].astype(np.int64))
    busy = [int(i) for i in np.argsort(counts)[::-1][:48] if counts[i]]
    vals = values_as_float(samples)
    rng = np.random.default_rng(1)
    docs = []
    for k in range(n):
        a, b, c = (busy[int(i)] for i in rng.integers(0, len(busy), 3))
        pa = float(np.percentile(vals[samples["signal_id"] == a], 70))
        pb = float(np.percentile(vals[samples["signal_id"] == b], 50))
        name = {s: catalog.by_id(s).name for s in (a, b, c)}
        expr = TEMPLATES[k % len(TEMPLATES)].format(a=name[a], b=name[b], c=name[c], pa=repr(pa), pb=repr(pb))
        docs.append(
            {
                "name": f"c{k}",
                "version": 1,
                "expiry": "2099-01-01T00:00:00Z",
                "signals": [{"name": name[a]}],
                "collection": {
                    "type": "condition",
                    "expression": expr,
                    "trigger_mode": "rising_edge",
                    "min_trigger_interval_ms": 1000,
                },
            }
        )
    return docs


def _vectorized(cs: CampaignSet, samples: np.ndarray) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    trig = [0] * len(cs)
    for i in range(0, len(samples), BATCH):
        sel = cs.process(samples[i : i + BATCH])
        for k, n in zip(*np.unique(sel.trigger_campaign, return_counts=True), strict=True):
            trig[int(k)] += int(n)
    return time.perf_counter() - t0, trig


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _best(run, repeats: int = REPEATS) -> float:
    """Fastest of a few runs (each from fresh state): the same rule for both sides."""
    return min(run() for _ in range(repeats))


def _conditions(cond: ConditionSet, samples: np.ndarray) -> tuple[float, list[list[int]]]:
    t0 = time.perf_counter()
    true: list[list[np.ndarray]] = [[] for _ in range(cond.n_conditions)]
    for i in range(0, len(samples), BATCH):
        for k, times in enumerate(cond.feed(samples[i : i + BATCH])):
            true[k].append(times)
    secs = time.perf_counter() - t0
    return secs, [np.concatenate(x).tolist() if x else [] for x in true]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_campaign")
    parser.add_argument("--quick", action="store_true", help="few samples (smoke check)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "campaign"))
    from campaign_reference import conditions_only, reference

    label, catalog, samples = _trace()
    index = SignalIndex.from_catalog(catalog)
    limit_py = 5_000 if args.quick else 60_000
    limit_np = 200_000 if args.quick else len(samples)
    rows = []
    for n in (1, 16, 256):
        campaigns = campaigns_from_data({"campaigns": _docs(catalog, samples, n)})
        refs = [
            np.array(sorted({index.resolve(s) for s in c.collection.expression.split() if index.resolve(s)}))
            for c in campaigns
        ]
        sid = samples["signal_id"]
        evals_np = sum(int(np.isin(sid[:limit_np], r).sum()) for r in refs)
        evals_py = sum(int(np.isin(sid[:limit_py], r).sum()) for r in refs)
        secs_c = _best(lambda c=campaigns: _conditions(ConditionSet.of(c, index), samples[:limit_np])[0])
        secs_py = _best(lambda c=campaigns: _timed(conditions_only, c, index, samples[:limit_py]))
        true_py = conditions_only(campaigns, index, samples[:limit_py])
        _, true_check = _conditions(ConditionSet.of(campaigns, index), samples[:limit_py])
        assert true_check == true_py, "ConditionSet and conditions_only disagree"
        cs = CampaignSet(campaigns, index)
        secs_np = _best(lambda c=campaigns: _vectorized(CampaignSet(c, index), samples[:limit_np])[0])
        secs_ref = _best(lambda c=campaigns: _timed(reference, c, index, samples[:limit_py]))
        ref = reference(campaigns, index, samples[:limit_py])
        check = CampaignSet(campaigns, index)
        _, trig_check = _vectorized(check, samples[:limit_py])
        assert trig_check == [len(ref[nm].triggers) for nm in check.names], (
            "CampaignSet and reference disagree"
        )
        rate_c, rate_py = evals_np / secs_c, evals_py / secs_py
        rate_full, rate_ref = evals_np / secs_np, evals_py / secs_ref
        rows.append((n, rate_c, rate_py, rate_full, rate_ref, cs.memory_bytes))
        print(
            f"{n:4d} conditions: {rate_c:,.0f} evals/s vectorized, {rate_py:,.0f} Python, "
            f"{rate_c / rate_py:.0f}x; full pipeline {rate_full:,.0f} vs {rate_ref:,.0f}, "
            f"{rate_full / rate_ref:.0f}x"
        )
    lines = [
        "## Campaign conditions",
        "",
        f"- Machine: {machine_line()}",
        f"- Command: `python -m bench.bench_campaign{' --quick' if args.quick else ''}`",
        f"- Trace: {label}, {len(samples):,} decoded samples; batches of {BATCH}; "
        f"{limit_np:,} samples vectorized, {limit_py:,} in Python; best of {REPEATS} runs each",
        "",
        "Conditions alone (the shared evaluation pass vs a per-sample Python evaluator), and the full",
        "pipeline (conditions, triggers, windows, selected samples) vs the per-sample reference of it.",
        "",
        "| conditions | vectorized evals/s | Python evals/s | ratio | full evals/s | Python full | ratio |"
        " state bound |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {n} | {a:,.0f} | {b:,.0f} | {a / b:.0f}x | {c:,.0f} | {d:,.0f} | {c / d:.0f}x | {m:,} B |"
            for n, a, b, c, d, m in rows
        ),
    ]
    if not args.quick:
        write_section("campaign", "\n".join(lines))
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
