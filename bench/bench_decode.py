"""Decode throughput: vehicle_mw's native batch decoder vs cantools ``db.decode_message``.

Same real DBCs, same trace frames, same run. vehicle_mw decodes frame records
in batches of 256 from Python (``Decoder.decode_into``); cantools decodes each
python-can message (``decode_choices=False``, as the native decoder does).
Frames cantools rejects (unknown id, too short) cost both sides their lookup.

    python -m bench.bench_decode [--quick]
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import statistics
import sys
import time

import can
import cantools
import numpy as np

from bench.common import machine_line
from vehicle_mw.can import CollectingSink, replay_log
from vehicle_mw.native import SAMPLE_DTYPE
from vehicle_mw.signals import Decoder, load_catalog

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "decode.md"
BATCH = 256

PAIRS = [  # (label, trace, dbc, strict)
    (
        "Hyundai Genesis / hyundai_i30_2014",
        "eldominio-canbuslogs/genesis/autologgenesis.log",
        "opendbc/dbc/hyundai_i30_2014.dbc",
        False,
    ),
    (
        "Toyota Yaris / toyota_iQ_2009_can",
        "eldominio-canbuslogs/Yaris_09/engineonaconoffstockecu.trc",
        "eldominio-canbuslogs/Yaris_09/toyota_iQ_2009_can.dbc",
        False,
    ),
    (
        "Audi A2 / vw_pq (multiplexed)",
        "eldominio-canbuslogs/audia2_mk/noecu.trc",
        "opendbc/dbc/vw_pq.dbc",
        False,
    ),
]
FALLBACK = [
    (
        "in-repo Prius random trace",
        str(ROOT / "tests/data/opendbc/prius_random.log"),
        str(ROOT / "tests/data/opendbc/toyota_prius_2010_pt.dbc"),
        True,
    )
]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def bench_pair(label: str, trace: pathlib.Path, dbc: pathlib.Path, strict: bool, repeats: int) -> dict:
    sink = CollectingSink()
    replay_log(trace, sink, speed=0)
    frames = sink.frames()
    messages = list(can.LogReader(str(trace)))
    decoder = Decoder(load_catalog(dbc, strict=strict))
    db = cantools.database.load_file(str(dbc), strict=strict)
    out = np.empty(BATCH * max(decoder.max_samples_per_frame, 1), SAMPLE_DTYPE)

    vmw_runs, vmw_batches, samples = [], [], 0
    for _ in range(repeats):
        t_run = time.perf_counter_ns()
        samples = 0
        for i in range(0, len(frames), BATCH):
            t0 = time.perf_counter_ns()
            _, n = decoder.decode_into(frames[i : i + BATCH], out)
            vmw_batches.append((time.perf_counter_ns() - t0) / min(BATCH, len(frames) - i))
            samples += n
        vmw_runs.append((time.perf_counter_ns() - t_run) / 1e9)

    peer_runs, peer_batches, peer_signals = [], [], 0
    decode = db.decode_message
    for _ in range(max(1, repeats // 3)):
        t_run = time.perf_counter_ns()
        peer_signals = 0
        for i in range(0, len(messages), BATCH):
            t0 = time.perf_counter_ns()
            for m in messages[i : i + BATCH]:
                try:
                    peer_signals += len(decode(m.arbitration_id, m.data, decode_choices=False))
                except Exception:
                    pass
            peer_batches.append((time.perf_counter_ns() - t0) / min(BATCH, len(messages) - i))
        peer_runs.append((time.perf_counter_ns() - t_run) / 1e9)

    vmw_s, peer_s = statistics.median(vmw_runs), statistics.median(peer_runs)
    return {
        "label": label,
        "frames": len(frames),
        "vmw_fps": len(frames) / vmw_s,
        "vmw_sps": samples / vmw_s,
        "peer_fps": len(messages) / peer_s,
        "peer_sps": peer_signals / peer_s,
        "vmw_ns_p50": _pct(vmw_batches, 50),
        "vmw_ns_p99": _pct(vmw_batches, 99),
        "peer_ns_p50": _pct(peer_batches, 50),
        "peer_ns_p99": _pct(peer_batches, 99),
        "ratio": (len(frames) / vmw_s) / (len(messages) / peer_s),
        "signals": (samples, peer_signals),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_decode")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    repeats = 3 if args.quick else 15
    pairs = [(lbl, SHARED / t, SHARED / d, s) for lbl, t, d, s in PAIRS] if SHARED.is_dir() else FALLBACK
    rows = [bench_pair(lbl, pathlib.Path(t), pathlib.Path(d), s, repeats) for lbl, t, d, s in pairs]
    head = (
        "| trace / database | frames | vmw frames/s | vmw signals/s | cantools frames/s | cantools signals/s "
        "| vmw ns/frame p50 / p99 | cantools ns/frame p50 / p99 | speed-up |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        cells = [
            r["label"],
            f"{r['frames']:,}",
            f"{r['vmw_fps']:,.0f}",
            f"{r['vmw_sps']:,.0f}",
            f"{r['peer_fps']:,.0f}",
            f"{r['peer_sps']:,.0f}",
            f"{r['vmw_ns_p50']:,.0f} / {r['vmw_ns_p99']:,.0f}",
            f"{r['peer_ns_p50']:,.0f} / {r['peer_ns_p99']:,.0f}",
            f"**{r['ratio']:.1f}x**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    section = [
        "## Signal decoding (`bench_decode`)",
        "",
        "vehicle_mw's native batch decoder (`Decoder.decode_into`, 256 frames per call from Python) vs "
        "cantools 45.1 `db.decode_message(id, data, decode_choices=False)` per python-can message: same "
        "real traces and DBCs, same run. Throughput is the median of whole-trace runs "
        f"({repeats} vmw, {max(1, repeats // 3)} cantools); ns/frame percentiles are over 256-frame batches. "
        "Both sides decode the same signal values (checked frame by frame in `tests/signals`). "
        "Target: >= 10x. Signals per trace run, vmw / cantools: "
        + "; ".join(f"{r['signals'][0]:,} / {r['signals'][1]:,}" for r in rows)
        + " (vmw also decodes the valid signals of frames cantools rejects whole, e.g. messages with a "
        "DBC signal outside the frame).",
        "",
        f"- Machine: {machine_line()}",
        f"- Command: `python -m bench.bench_decode{' --quick' if args.quick else ''}`",
        "",
        table,
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(section))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
