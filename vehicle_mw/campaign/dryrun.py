"""Dry-run: a recorded trace through the same CampaignSet the vehicle runs, as fast as it decodes.

The trace is decoded by the project's own decoder (as ``vmw decode`` does) and every batch goes to
:meth:`CampaignSet.process`; nothing is sent. The report says, per campaign, when it would have
triggered (the trace's own timestamps), what it would have uploaded (samples; bytes in the outbox's
wire encoding before and after the campaign's compression, one upload per window), the per-signal
rates, the triggers the minimum interval suppressed, and its conflicts with itself (overlapping
windows, merged) and with other campaigns (windows overlapping in time, samples uploaded twice).
With an outbox size, also what that bounded outbox would evict by priority (campaign/evictions.py).
"""

from __future__ import annotations

import pathlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.campaign.campaign_set import CampaignSet
from vehicle_mw.campaign.document import Campaign, ConditionBased
from vehicle_mw.campaign.evaluator import SignalIndex
from vehicle_mw.campaign.evictions import Evicted, Upload, simulate
from vehicle_mw.campaign.expression import parse_expression, signal_names
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.native.wire import columns_bytes

BATCH_FRAMES = 4096
PLOT_POINTS = 1500  # per signal in the HTML timeline


@dataclass
class CampaignReport:
    """What one campaign would have done over the trace."""

    name: str
    kind: str
    priority: int
    triggers_ns: list[int] = field(default_factory=list)
    suppressed: int = 0
    overlaps: int = 0
    windows: list[tuple[int, int]] = field(default_factory=list)  # (first, last) sample time per upload
    samples: int = 0
    bytes: int = 0
    bytes_compressed: int = 0
    signals: dict[str, dict[str, float]] = field(default_factory=dict)
    conflicts: list[dict] = field(default_factory=list)
    memory_bytes: int = 0
    upload_sizes: list[tuple[int, int]] = field(default_factory=list)  # (samples, wire bytes) per upload
    evicted: Evicted | None = None  # with an outbox size: what its bound would drop

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "triggers": [round(t / 1e9, 9) for t in self.triggers_ns],
            "samples": self.samples,
            "bytes": self.bytes,
            "bytes_compressed": self.bytes_compressed,
            "uploads": len(self.windows),
            "suppressed": self.suppressed,
            "overlapping_windows": self.overlaps,
            "conflicts": self.conflicts,
            "signals": self.signals,
            "memory_bytes": self.memory_bytes,
            **({"evicted": self.evicted.as_json()} if self.evicted is not None else {}),
        }


@dataclass
class DryRunReport:
    """All campaigns, plus what the HTML timeline plots."""

    campaigns: list[CampaignReport]
    trace_start_ns: int
    trace_end_ns: int
    trace_samples: int
    series: dict[str, tuple[np.ndarray, np.ndarray]]  # condition signal -> (times ns, values)
    condition_signals: dict[str, list[str]]  # campaign -> signals its condition reads
    expressions: dict[str, str]

    def as_json(self) -> dict:
        return {"campaigns": [c.as_json() for c in self.campaigns]}


class _Collector:
    """Accumulates selections and plot series while the trace is decoded."""

    def __init__(self, cs: CampaignSet, plot_ids: dict[int, str]) -> None:
        self.cs = cs
        self.records: list[list[np.ndarray]] = [[] for _ in cs.names]
        self.windows: list[list[np.ndarray]] = [[] for _ in cs.names]
        self.triggers: list[list[np.ndarray]] = [[] for _ in cs.names]
        self.suppressed = np.zeros(len(cs.names), np.int64)
        self.overlaps = np.zeros(len(cs.names), np.int64)
        self.plot_ids = plot_ids
        self.plot_keys = np.array(sorted(plot_ids), dtype=np.int64)
        self.series: list[np.ndarray] = []
        self.counts = np.zeros(1, np.int64)
        self.first = None
        self.last = 0
        self.n = 0

    def batch(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        ts = samples["timestamp_ns"]
        self.first = int(ts[0]) if self.first is None else self.first
        self.last = max(self.last, int(ts.max()))
        self.n += len(samples)
        sid = samples["signal_id"].astype(np.int64)
        top = int(sid.max()) + 1
        if top > len(self.counts):
            self.counts = np.concatenate((self.counts, np.zeros(top - len(self.counts), np.int64)))
        self.counts += np.bincount(sid, minlength=len(self.counts))
        if len(self.plot_keys):
            self.series.append(samples[np.isin(sid, self.plot_keys)])
        sel = self.cs.process(samples)
        self.suppressed += sel.suppressed
        self.overlaps += sel.overlaps
        for k in np.unique(sel.campaign).tolist():
            mine = sel.campaign == k
            self.records[k].append(sel.samples[mine])
            self.windows[k].append(sel.window[mine])
        for k in np.unique(sel.trigger_campaign).tolist():
            self.triggers[k].append(sel.trigger_time_ns[sel.trigger_campaign == k])


def _uploads(
    records: np.ndarray, windows: np.ndarray, compression: str
) -> tuple[list[tuple[int, int]], int, int, list[tuple[int, int]]]:
    """Per window (one upload): its time span; total wire bytes before and after compression; per
    upload its samples and wire bytes."""
    spans, raw, packed, sizes = [], 0, 0, []
    if len(records) == 0:
        return spans, 0, 0, sizes
    order = np.argsort(windows, kind="stable")
    w = windows[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
    ends = np.append(starts[1:], len(w))
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        part = records[order[a:b]]
        body = columns_bytes(part)
        raw += len(body)
        sizes.append((len(part), len(body)))
        packed += len(zlib.compress(body, 6)) if compression == "zlib" else len(body)
        ts = part["timestamp_ns"]
        spans.append((int(ts.min()), int(ts.max())))
    return spans, raw, packed, sizes


def _conflicts(reports: list[CampaignReport], records: list[np.ndarray]) -> None:
    """Windows of two campaigns overlapping in time, and samples both upload."""
    keys = []
    for rec in records:
        k = rec[["timestamp_ns", "signal_id", "source_seq", "source_id"]] if len(rec) else rec
        keys.append(np.unique(k) if len(rec) else k)
    for i, a in enumerate(reports):
        for j, b in enumerate(reports):
            if i == j or not a.windows or not b.windows:
                continue
            sa = np.array(a.windows)
            sb = np.array(b.windows)
            # windows of a that overlap some window of b
            k = np.searchsorted(sb[:, 0], sa[:, 1], side="right") - 1
            hit = (k >= 0) & (sb[np.maximum(k, 0), 1] >= sa[:, 0])
            k2 = np.searchsorted(sb[:, 0], sa[:, 0], side="left")
            hit |= (k2 < len(sb)) & (sb[np.minimum(k2, len(sb) - 1), 0] <= sa[:, 1])
            if not hit.any():
                continue
            shared = len(np.intersect1d(keys[i], keys[j])) if len(keys[i]) and len(keys[j]) else 0
            a.conflicts.append(
                {
                    "campaign": b.name,
                    "overlapping_windows": int(hit.sum()),
                    "shared_samples": int(shared),
                    "higher_priority": b.name if b.priority > a.priority else a.name,
                }
            )


def dry_run(
    campaigns: Sequence[Campaign],
    databases: Sequence[str | pathlib.Path],
    log: str | pathlib.Path,
    *,
    strict: bool = True,
    j1939: bool = False,
    vss: dict[str, str] | None = None,
    memory_limit_bytes: int = 256 << 20,
    outbox_bytes: int | None = None,
) -> DryRunReport:
    """Decode ``log`` with ``databases`` and run every campaign over it; with ``outbox_bytes``, also
    what an outbox of that size would evict by priority (the vehicle offline for the trace)."""
    from vehicle_mw.can import CallbackSink, replay_log
    from vehicle_mw.signals import Decoder, load_catalog

    catalog = load_catalog(list(databases), strict=strict, j1939=j1939, vss=vss)
    index = SignalIndex.from_catalog(catalog)
    cs = CampaignSet(campaigns, index, memory_limit_bytes=memory_limit_bytes)
    by_name = {c.name: c for c in campaigns}
    cond_signals: dict[str, list[str]] = {}
    expressions: dict[str, str] = {}
    for c in campaigns:
        if isinstance(c.collection, ConditionBased):
            cond_signals[c.name] = signal_names(parse_expression(c.collection.expression, c.name))
            expressions[c.name] = c.collection.expression
    plot_ids = {index.resolve(n): n for names in cond_signals.values() for n in names}
    collector = _Collector(cs, {k: v for k, v in plot_ids.items() if k is not None})
    decoder = Decoder(catalog)
    replay_log(
        log,
        CallbackSink(lambda f: collector.batch(decoder.decode_array(f))),
        speed=0,
        batch_size=BATCH_FRAMES,
    )
    duration_s = max((collector.last - (collector.first or 0)) / 1e9, 1e-9)
    reports, all_records = [], []
    for k, name in enumerate(cs.names):
        c = by_name[name]
        rec = np.concatenate(collector.records[k]) if collector.records[k] else np.empty(0, SAMPLE_DTYPE)
        win = np.concatenate(collector.windows[k]) if collector.windows[k] else np.empty(0, np.int64)
        spans, raw, packed, sizes = _uploads(rec, win, c.compression)
        trig = np.concatenate(collector.triggers[k]) if collector.triggers[k] else np.empty(0, np.int64)
        selected = np.bincount(rec["signal_id"].astype(np.int64), minlength=len(collector.counts))
        signals = {}
        for spec in c.signals:
            sid = index.resolve(spec.name)
            in_trace = int(collector.counts[sid]) if sid is not None and sid < len(collector.counts) else 0
            chosen = int(selected[sid]) if sid is not None and sid < len(selected) else 0
            signals[spec.name] = {
                "trace_samples": in_trace,
                "trace_rate_hz": round(in_trace / duration_s, 3),
                "selected": chosen,
                "selected_rate_hz": round(chosen / duration_s, 3),
            }
        reports.append(
            CampaignReport(
                name=name,
                kind="condition" if isinstance(c.collection, ConditionBased) else "time",
                priority=c.priority,
                triggers_ns=trig.tolist(),
                suppressed=int(collector.suppressed[k]),
                overlaps=int(collector.overlaps[k]),
                windows=spans,
                samples=len(rec),
                bytes=raw,
                bytes_compressed=packed,
                signals=signals,
                memory_bytes=cs.reports[k].total,
                upload_sizes=sizes,
            )
        )
        all_records.append(rec)
    _conflicts(reports, all_records)
    if outbox_bytes is not None:
        uploads = [
            Upload(span[1], k, r.priority, n, size)
            for k, r in enumerate(reports)
            for span, (n, size) in zip(r.windows, r.upload_sizes, strict=True)
        ]
        for r, e in zip(reports, simulate(uploads, outbox_bytes, len(reports)), strict=True):
            r.evicted = e
    series = {}
    if collector.series:
        plot = np.concatenate(collector.series)
        from vehicle_mw.signals import values_as_float

        values = values_as_float(plot)
        for sid, name in collector.plot_ids.items():
            mine = plot["signal_id"] == sid
            series[name] = (plot["timestamp_ns"][mine].astype(np.int64), values[mine])
    return DryRunReport(
        reports,
        collector.first or 0,
        collector.last,
        collector.n,
        series,
        cond_signals,
        expressions,
    )


__all__ = ["CampaignReport", "DryRunReport", "dry_run"]
