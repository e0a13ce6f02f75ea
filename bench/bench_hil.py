"""HIL restbus benchmark: period accuracy of simulated ECUs, next to python-can's ``send_periodic``.

    python -m bench.bench_hil [--quick]

Both send the same three messages of ``hil/dbc/body.dbc`` every 10 ms on a python-can ``virtual``
bus; a receiver records the bus timestamps. vehicle_mw's ``RestbusEcu`` runs one thread per ECU
on absolute deadlines and re-encodes a message with cantools only when a signal value changed;
python-can's ``send_periodic`` (the peer) runs one thread per message with fixed bytes.
Results: ``bench/results/hil.md``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import threading
import time

import can
import cantools
import numpy as np

from bench.common import machine_line
from vehicle_mw.hil import RestbusEcu
from vehicle_mw.manifest.hil import SimulatedEcu

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "hil.md"
DBC = ROOT / "hil" / "dbc" / "body.dbc"
PERIOD_MS = 10.0
CHANNEL = "vmw-bench-hil"


def record(duration_s: float, start_senders, stop_senders) -> dict[int, np.ndarray]:
    """Receive for ``duration_s`` while the senders run; bus timestamps per CAN id."""
    stamps: dict[int, list[float]] = {}
    stop = threading.Event()
    with can.Bus(interface="virtual", channel=CHANNEL) as rx:

        def listen() -> None:
            while not stop.is_set():
                msg = rx.recv(0.1)
                if msg is not None:
                    stamps.setdefault(msg.arbitration_id, []).append(msg.timestamp)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        start_senders()
        stop.wait(duration_s)
        stop_senders()
        stop.set()
        listener.join(2)
    return {k: np.array(v) for k, v in stamps.items()}


def run_vmw(duration_s: float, messages) -> dict[int, np.ndarray]:
    cfg = SimulatedEcu(name="BodyEcu", bus="b", cycle_ms={m.name: PERIOD_MS for m in messages})
    with can.Bus(interface="virtual", channel=CHANNEL) as tx:
        ecu = RestbusEcu(cfg, {m.name: m for m in messages}, tx)
        return record(duration_s, ecu.start, ecu.stop)


def run_python_can(duration_s: float, messages) -> dict[int, np.ndarray]:
    with can.Bus(interface="virtual", channel=CHANNEL) as tx:
        tasks = []

        def start() -> None:
            for m in messages:
                data = m.encode({s.name: 0 for s in m.signals})
                msg = can.Message(arbitration_id=m.frame_id, is_extended_id=False, data=data)
                tasks.append(tx.send_periodic(msg, PERIOD_MS / 1000.0))

        def stop() -> None:
            for t in tasks:
                t.stop()

        return record(duration_s, start, stop)


def summarize(stamps: dict[int, np.ndarray], duration_s: float) -> dict[str, float]:
    errors = np.concatenate(
        [np.abs(np.diff(ts) * 1000.0 - PERIOD_MS) for ts in stamps.values() if len(ts) > 1]
    )
    frames = sum(len(ts) for ts in stamps.values())
    expected = len(stamps) * duration_s * 1000.0 / PERIOD_MS
    return {
        "median": float(np.median(errors)),
        "p99": float(np.percentile(errors, 99)),
        "max": float(errors.max()),
        "frames": frames,
        "rate": frames / expected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_hil")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    duration = 2.0 if args.quick else 10.0
    messages = cantools.database.load_file(str(DBC)).messages
    results = {}
    for name, fn in (("vmw RestbusEcu", run_vmw), ("python-can send_periodic", run_python_can)):
        results[name] = summarize(fn(duration, messages), duration)
        print(name, {k: round(v, 3) for k, v in results[name].items()}, flush=True)
    lines = [
        "## HIL restbus",
        "",
        f"- Command: `python -m bench.bench_hil{' --quick' if args.quick else ''}` ({started})",
        f"- Machine: {machine_line()}",
        f"- Load: {len(messages)} messages every {PERIOD_MS:g} ms for {duration:g} s on a python-can "
        "`virtual` bus; "
        "error = |gap between consecutive frames of one message - period| from the bus timestamps.",
        "- Peer, same run: python-can `send_periodic` (one thread per message, fixed bytes); vehicle_mw "
        "re-encodes a message (cantools) only when a signal changed (one thread per ECU).",
        "",
        "| sender | median error ms | p99 error ms | max error ms | frames | frames / expected |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['median']:.3f} | {r['p99']:.3f} | {r['max']:.3f} | {r['frames']:,} "
            f"| {r['rate']:.3f} |"
        )
    lines.append("")
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
