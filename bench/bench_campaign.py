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

And the vehicle runtime's CPU per frame with and without 16 active campaigns: bench_runtime's
threads-mode runtime (three real traces replayed at their own rate, looping, uplinking to a
vehicle_mw gateway in its own process), once with no campaign and once with 16 signed campaigns in
its state folder (rising edge, 1 s minimum interval, 2 s before / 1 s after, 4 signals each); CPU
of the runtime's process over a window after a warm-up, per 100k frames.

    python -m bench.bench_campaign [--quick] [--no-runtime]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.common import machine_line, write_section
from vehicle_mw.campaign import CampaignSet, SignalIndex, campaigns_from_data
from vehicle_mw.campaign.batch_eval import ConditionSet
from vehicle_mw.campaign.expression import parse_expression, signal_names
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


def _best_with(fn, repeats: int = REPEATS):
    """(fastest of a few timed calls, the last call's result): the Python sides, checked after."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


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


def _runtime_docs(n: int) -> list[dict]:
    """``n`` condition campaigns over the Genesis trace's busiest signals, with windows."""
    _, catalog, samples = _trace()
    docs = _docs(catalog, samples, n)
    counts = np.bincount(samples["signal_id"].astype(np.int64))
    busy = [catalog.by_id(int(i)).name for i in np.argsort(counts)[::-1][:64] if counts[i]]
    for k, d in enumerate(docs):
        d["signals"] = [{"name": busy[(4 * k + j) % len(busy)]} for j in range(4)]
        d["priority"] = 100 + k
        d["collection"].update(pre_trigger_ms=2000, post_trigger_ms=1000)
    return docs


def _runtime_side(args: argparse.Namespace) -> int:
    """Child process: one runtime, ``args.runtime_side`` campaigns installed, one measured window."""
    from bench.bench_runtime import measure_window, write_manifests
    from vehicle_mw.campaign import sign
    from vehicle_mw.campaign.signing import generate_key, public_key_pem
    from vehicle_mw.runtime import VehicleRuntime
    from vehicle_mw.runtime.campaigns import CAMPAIGNS_DIR, KEYS_DIR

    n = int(args.runtime_side)
    work = pathlib.Path(args.workdir) / f"campaigns{n}-{os.getpid()}"
    rt = VehicleRuntime.from_manifests(*write_manifests(work, args.url, f"campaigns{n}", processes=False))
    if n:
        key = generate_key()
        (rt.state_dir / KEYS_DIR).mkdir(parents=True)
        (rt.state_dir / KEYS_DIR / "bench.pem").write_bytes(public_key_pem(key.public_key()))
        (rt.state_dir / CAMPAIGNS_DIR).mkdir(parents=True)
        for c in campaigns_from_data({"campaigns": _runtime_docs(n)}):
            (rt.state_dir / CAMPAIGNS_DIR / f"{c.name}.json").write_bytes(sign(c, key))

    def frames() -> int:
        buses = rt.counters().get("can", {}).get("buses", {})
        return sum(int(b.get("frames", 0)) for b in buses.values())

    rt.start()
    try:
        active = rt.counters()["uplink"].get("campaigns", {}).get("active", 0)
        if active != n:
            raise SystemExit(
                f"{active} campaigns active, wanted {n}: {rt.counters()['uplink'].get('campaigns')}"
            )
        result = measure_window(args.warmup, args.seconds, frames)
        result["uplink"] = rt.counters()["uplink"]
    finally:
        try:
            rt.stop()
        finally:
            rt.plan.unlink_all()
    pathlib.Path(args.out).write_text(json.dumps(result, default=str))
    return 0


def _runtime_rows(quick: bool) -> list[str]:
    from bench.bench_gateway import Server
    from bench.bench_runtime import missing_traces

    if missing_traces():
        return [f"- Runtime CPU: not measured (traces missing: {', '.join(missing_traces())})"]
    warmup, seconds = (2.0, 5.0) if quick else (5.0, 30.0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="vmw-bench-campaign-") as tmp:
        work = pathlib.Path(tmp)
        for n in (0, 16):
            server = Server("vmw", work)
            try:
                out = work / f"side{n}.json"
                argv = [sys.executable, "-m", "bench.bench_campaign", "--runtime-side", str(n)]
                argv += ["--url", server.url, "--workdir", str(work), "--out", str(out)]
                argv += ["--warmup", str(warmup), "--seconds", str(seconds)]
                proc = subprocess.run(argv, cwd=ROOT, timeout=warmup + seconds + 300)
                if proc.returncode:
                    raise RuntimeError(f"the runtime with {n} campaigns exited {proc.returncode}")
                results[n] = json.loads(out.read_text())
            finally:
                server.stop()
    per = {n: r["cpu_s"] / max(r["frames"], 1) * 1e5 for n, r in results.items()}
    camp = results[16]["uplink"].get("campaigns", {})
    triggers = sum(c.get("triggers", 0) for c in camp.get("campaigns", {}).values())
    lines = [
        "",
        f"Runtime CPU per frame (threads mode, bench_runtime's three traces at their own rate, window "
        f"{seconds:.0f} s after {warmup:.0f} s): with 16 campaigns **{per[16] / per[0] - 1:+.0%}** "
        "(target <= +30 %).",
        "",
        "| campaigns | frames in window | CPU s / 100k frames | samples stored (since start) | triggers |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, r in results.items():
        lines.append(
            f"| {n} | {r['frames']:,} | {per[n]:.2f} | {r['uplink']['samples_stored']:,} | "
            f"{triggers if n else 0:,} |"
        )
    for n, r in results.items():  # where the CPU went, per thread (name: CPU s in the window)
        top = ", ".join(f"{k.split(':', 1)[-1]} {v:.2f}" for k, v in list(r["threads_cpu_s"].items())[:6])
        lines.append(f"- {n} campaigns, CPU s by thread: {top}")
    print("\n".join(lines))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_campaign")
    parser.add_argument("--quick", action="store_true", help="few samples (smoke check)")
    parser.add_argument("--no-runtime", action="store_true", help="skip the runtime CPU rows")
    parser.add_argument("--runtime-side", help=argparse.SUPPRESS)  # child: campaigns to install
    for hidden in ("--url", "--workdir", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runtime_side is not None:
        return _runtime_side(args)
    sys.path.insert(0, str(ROOT / "tests" / "campaign"))
    from campaign_reference import conditions_only, reference

    label, catalog, samples = _trace()
    index = SignalIndex.from_catalog(catalog)
    limit_py = 5_000 if args.quick else 60_000
    limit_np = 200_000 if args.quick else len(samples)
    rows = []
    for n in (1, 16, 256):
        campaigns = campaigns_from_data({"campaigns": _docs(catalog, samples, n)})
        refs = [  # the signals each condition reads: its evaluation points are their samples
            np.array(
                sorted({index.resolve(s) for s in signal_names(parse_expression(c.collection.expression))})
            )
            for c in campaigns
        ]
        sid = samples["signal_id"]
        evals_np = sum(int(np.isin(sid[:limit_np], r).sum()) for r in refs)
        evals_py = sum(int(np.isin(sid[:limit_py], r).sum()) for r in refs)
        secs_c = _best(lambda c=campaigns: _conditions(ConditionSet.of(c, index), samples[:limit_np])[0])
        secs_py, true_py = _best_with(lambda c=campaigns: conditions_only(c, index, samples[:limit_py]))
        _, true_check = _conditions(ConditionSet.of(campaigns, index), samples[:limit_py])
        assert true_check == true_py, "ConditionSet and conditions_only disagree"
        cs = CampaignSet(campaigns, index)
        secs_np = _best(lambda c=campaigns: _vectorized(CampaignSet(c, index), samples[:limit_np])[0])
        secs_ref, ref = _best_with(lambda c=campaigns: reference(c, index, samples[:limit_py]))
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
    if not args.no_runtime:
        lines += _runtime_rows(args.quick)
    if not args.quick:
        write_section("campaign", "\n".join(lines))
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
