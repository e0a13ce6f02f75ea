"""``vmw decode``: decode a CAN log with signal databases, to CSV or the terminal."""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode", help="decode a CAN log (asc/blf/trc/log/csv/mf4) with DBC/ARXML/KCD/SYM"
    )
    p.add_argument("--db", action="append", required=True, help="signal database (repeat for several)")
    p.add_argument("--log", required=True, help="CAN log file")
    p.add_argument(
        "--signals", nargs="+", default=None, help="only these signals ('Message.Signal' or 'Message.*')"
    )
    p.add_argument("--csv", default=None, help="write CSV here instead of printing")
    p.add_argument("--non-strict", action="store_true", help="load databases with cantools strict=False")
    p.add_argument("--j1939", action="store_true", help="match extended ids by J1939 PGN")
    p.add_argument("--labels", action="store_true", help="add the choice label column for enumerated signals")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _selected_ids(catalog, patterns: list[str] | None) -> np.ndarray | None:
    if not patterns:
        return None
    ids = []
    for pat in patterns:
        if pat.endswith(".*"):
            ids += [s.id for s in catalog.signals if s.message == pat[:-2]]
        else:
            ids += [s.id for s in catalog.signals if s.name == pat]
    if not ids:
        from vehicle_mw.signals import DatabaseError

        raise DatabaseError(f"none of the signals {patterns} is in the databases")
    return np.array(sorted(set(ids)), dtype=np.uint32)


def _line_of_record(path: str, index: int) -> tuple[int, str] | None:
    """Line number and text of the ``index``-th (0-based) record of a candump ``.log`` (one frame per
    non-blank line, as python-can's reader counts them)."""
    try:
        with open(path, errors="replace") as f:
            seen = 0
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if seen == index:
                    return number, line.rstrip("\n")
                seen += 1
    except OSError:
        return None
    return None


def _explain(exc: Exception, path: str) -> Exception:
    """A python-can parse failure of a candump log as an error naming the file and line."""
    import re

    from vehicle_mw.can.replay import ReplayError

    m = re.search(r"unreadable after (\d+) frames: (.*)$", str(exc))
    if not (isinstance(exc, ReplayError) and m and path.lower().endswith(".log")):
        return exc
    found = _line_of_record(path, int(m.group(1)))
    if found is None:
        return exc
    number, text = found
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ReplayError(
        f"{path}: line {number}: not a candump -L record '(time) channel id#data' ({m.group(2)}): {shown!r}"
    )


def _plain(value):
    """cantools prints 1-bit and other integer signals as numbers: True/False become 1/0."""
    return int(value) if isinstance(value, bool) else value


def run(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from vehicle_mw.can import CallbackSink, replay_log
    from vehicle_mw.can.replay import ReplayError
    from vehicle_mw.signals import Decoder, load_catalog, sample_values

    if not os.path.isfile(args.log):  # before any output: no CSV header above a "not found" error
        raise ReplayError(f"{args.log}: log file not found")
    catalog = load_catalog(args.db, strict=not args.non_strict, j1939=args.j1939)
    decoder = Decoder(catalog)
    wanted = _selected_ids(catalog, args.signals)
    names = {s.id: s for s in catalog.signals}
    header = ["timestamp", "bus", "signal", "value", "unit"] + (["label"] if args.labels else [])
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.csv, "w", newline="")) if args.csv else sys.stdout
        writer = csv.writer(out)
        writer.writerow(header)
        show = (
            not args.no_progress and (args.csv is not None or not sys.stdout.isatty()) and sys.stderr.isatty()
        )
        progress = stack.enter_context(
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                disable=not show,
                transient=True,
            )
        )
        task = progress.add_task("decoding", total=None)
        counts = {"frames": 0, "samples": 0}

        def on_batch(frames: np.ndarray) -> None:
            samples = decoder.decode_array(frames)
            if wanted is not None:
                samples = samples[np.isin(samples["signal_id"], wanted)]
            counts["frames"] += len(frames)
            counts["samples"] += len(samples)
            rows = []
            for ts, sid, value in zip(
                samples["timestamp_ns"].tolist(),
                samples["signal_id"].tolist(),
                sample_values(samples),
                strict=True,
            ):
                s = names[sid]
                value = _plain(value)
                row = [f"{ts / 1e9:.6f}", s.bus, s.name, value, s.unit]
                if args.labels:
                    row.append(catalog.label(sid, value) or "" if s.choices else "")
                rows.append(row)
            writer.writerows(rows)
            progress.update(task, description=f"{counts['frames']:,} frames, {counts['samples']:,} samples")

        try:
            replay_log(args.log, CallbackSink(on_batch), speed=0, batch_size=4096)
        except BrokenPipeError:  # e.g. `vmw decode ... | head`
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown quiet
            return 0
        except ReplayError as exc:
            raise _explain(exc, args.log) from None
    st = decoder.stats()
    if st.frames == 0:
        # like cantools decode on empty input: not an error (exit 0), but said, not silent
        print(f"{args.log}: the log holds no frames; 0 samples written", file=sys.stderr)
        return 0
    print(
        f"{st.frames} frames: {st.decoded} decoded, {st.unknown} unknown id, {st.too_short} too short, "
        f"{st.error_frames} error; {counts['samples']} samples written",
        file=sys.stderr,
    )
    return 0
