"""Many campaigns over one sample stream: triggers, windows and the samples each selects.

``CampaignSet.process(samples)`` takes a SAMPLE_DTYPE batch (as the decoder writes it) and returns
a :class:`Selection`: the records each campaign uploads, tagged with the campaign and its window.
State (carried values, windows, pre-trigger rings) is bounded, computed before the first batch,
and a set whose bound exceeds ``memory_limit_bytes`` is refused naming the campaign that crossed it.

Per campaign and batch, in stream order:

1. the collected signals' samples are thinned per signal by ``min_sampling_interval_ms``;
2. (condition) the expression is evaluated at its evaluation points, rising edges taken if asked,
   and candidates closer than ``min_trigger_interval_ms`` to the last accepted trigger suppressed;
3. each trigger at stream time *t* opens the window ``[t - pre, t + post]``; overlapping windows
   merge (and are counted as overlaps); (time-based) window *k* is ``[k * period, (k+1) * period)``;
4. the window's samples come out: the pre-trigger part from the campaign's ring (per signal the
   latest ``max_samples`` -- or ``default_ring_samples`` -- samples), then samples as they arrive,
   at most ``max_samples`` per signal and window when given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.campaign.batch_eval import BatchIndex, ConditionSet, stream_time
from vehicle_mw.campaign.document import Campaign, ConditionBased
from vehicle_mw.campaign.errors import CampaignError
from vehicle_mw.campaign.evaluator import (
    NS_PER_MS,
    WINDOW_STATE_BYTES,
    CompiledCondition,
    SignalIndex,
    compile_condition,
)
from vehicle_mw.campaign.expression import parse_expression
from vehicle_mw.campaign.selection import NEVER, group_ranks, space_triggers, thin
from vehicle_mw.native.records import SAMPLE_DTYPE, SAMPLE_SIZE

UNLIMITED = np.iinfo(np.int64).max
RING_BYTES_PER_SAMPLE = SAMPLE_SIZE + 16  # the record, its stream time and its signal slot
SIGNAL_STATE_BYTES = 48  # id, intervals, caps, last kept time, window count, ring size
CAMPAIGN_STATE_BYTES = 256
CARRIED_SIGNAL_BYTES = 24  # id, last value, last time: per signal a condition reads


def records_cat(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenated SAMPLE_DTYPE arrays, as bytes: numpy's structured concatenate is ~10x slower."""
    if len(parts) == 1:
        return parts[0]
    raw = np.concatenate([np.ascontiguousarray(p).view(np.uint8) for p in parts])
    return raw.view(SAMPLE_DTYPE)


@dataclass(frozen=True)
class MemoryReport:
    """State a campaign may hold at most (bytes), by part."""

    name: str
    rings: int
    signals: int
    condition: int

    @property
    def total(self) -> int:
        return self.rings + self.signals + self.condition


@dataclass
class Selection:
    """What one batch made the campaigns upload, plus what they decided."""

    samples: np.ndarray  # SAMPLE_DTYPE records, grouped by campaign, in stream order within one
    campaign: np.ndarray  # uint16 index into CampaignSet.names, per record
    window: np.ndarray  # int64 window number per record (per campaign: trigger windows, or period)
    trigger_campaign: np.ndarray  # uint16, per accepted trigger
    trigger_time_ns: np.ndarray  # int64 stream time of each accepted trigger (time-based: period end)
    suppressed: np.ndarray  # per campaign: candidates dropped by min_trigger_interval_ms
    overlaps: np.ndarray  # per campaign: triggers whose window overlapped the open one

    def of(self, index: int) -> np.ndarray:
        return self.samples[self.campaign == index]


@dataclass
class _Part:
    records: np.ndarray
    window: np.ndarray
    triggers: np.ndarray
    suppressed: int = 0
    overlaps: int = 0


@dataclass
class _Ring:
    """A campaign's recent samples of its signals (after thinning), for pre-trigger windows."""

    records: np.ndarray = field(default_factory=lambda: np.empty(0, SAMPLE_DTYPE))
    t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    local: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


class CampaignRun:
    """One campaign's compiled form and state."""

    STATE = ("last_kept", "counts", "ring", "prev_cond", "last_trigger", "window_end", "window_seq")

    def __init__(self, campaign: Campaign, index: SignalIndex, default_ring_samples: int) -> None:
        self.campaign = campaign
        name = campaign.name
        ids = []
        for i, spec in enumerate(campaign.signals):
            sid = index.resolve(spec.name)
            if sid is None:
                raise CampaignError(
                    f"no signal {spec.name!r} in the catalog (by name or VSS path)",
                    campaign=name,
                    field=f"signals[{i}].name",
                )
            ids.append(sid)
        if len(set(ids)) != len(ids):
            raise CampaignError("two entries name the same signal", campaign=name, field="signals")
        order = np.argsort(ids)
        specs = [campaign.signals[i] for i in order]
        self.ids = np.array(ids, dtype=np.int64)[order]
        self.slots = np.empty(0, np.int64)  # the ids' slots in the set's batch index (set by CampaignSet)
        self.min_interval = np.array([s.min_sampling_interval_ms * NS_PER_MS for s in specs], np.int64)
        self.max_samples = np.array([s.max_samples or UNLIMITED for s in specs], np.int64)
        self.capped = bool((self.max_samples < UNLIMITED).any())
        self.thinning = bool((self.min_interval > 0).any())
        self.last_kept = np.full(len(specs), NEVER, np.int64)
        self.counts = np.zeros(len(specs), np.int64)  # samples kept per signal in the open window
        coll = campaign.collection
        self.condition: CompiledCondition | None = None
        if isinstance(coll, ConditionBased):
            tree = parse_expression(coll.expression, name)
            self.condition = compile_condition(tree, index, name, coll.expression)
            self.pre = coll.pre_trigger_ms * NS_PER_MS
            self.post = coll.post_trigger_ms * NS_PER_MS
            self.trigger_interval = coll.min_trigger_interval_ms * NS_PER_MS
            self.rising = coll.trigger_mode == "rising_edge"
            self.period = 0
        else:
            self.pre = self.post = self.trigger_interval = 0
            self.rising = False
            self.period = coll.period_ms * NS_PER_MS
        # pre-trigger ring per signal; with no pre-trigger window it holds only the latest sample, for
        # the samples stamped with the trigger's own time that arrived before it (other signals of
        # its frame)
        ring = default_ring_samples if self.pre > 0 else 1
        self.ring_cap = np.minimum(self.max_samples, ring)
        self.ring_cap_min = int(self.ring_cap.min()) if len(self.ring_cap) else 0
        self.ring = _Ring() if self.condition is not None else None
        self.prev_cond = False
        self.last_trigger = NEVER
        self.window_end = NEVER  # end of the open trigger window (inclusive)
        self.window_seq = -1  # number of the open window (time-based: its period)

    def memory(self) -> MemoryReport:
        rings = int(self.ring_cap.sum()) * RING_BYTES_PER_SAMPLE if self.ring is not None else 0
        cond = 0
        if self.condition is not None:
            cond = len(self.condition.refs) * CARRIED_SIGNAL_BYTES + len(self.condition.windows) * (
                WINDOW_STATE_BYTES
            )
        return MemoryReport(
            self.campaign.name,
            rings,
            len(self.ids) * SIGNAL_STATE_BYTES + CAMPAIGN_STATE_BYTES,
            cond + 64 * (self.condition.nodes if self.condition else 0),
        )

    # -- per batch -------------------------------------------------------------------------

    def _candidates(self, b: BatchIndex) -> tuple[np.ndarray, np.ndarray]:
        """Batch indices of this campaign's samples after thinning, and their signal slots."""
        t = b.t
        idx, loc = b.positions(self.slots)
        if self.thinning and len(idx) and (self.min_interval[np.unique(loc)] > 0).any():
            keep = np.ones(len(idx), bool)
            order = np.argsort(loc, kind="stable")
            sl = loc[order]
            starts = np.concatenate(([0], np.flatnonzero(sl[1:] != sl[:-1]) + 1))
            ends = np.append(starts[1:], len(sl))
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                slot = int(sl[a])
                m = int(self.min_interval[slot])
                if m <= 0:
                    continue
                sub = order[a:b]
                k = thin(t[idx[sub]], m, int(self.last_kept[slot]))
                keep[sub] = k
                if k.any():
                    self.last_kept[slot] = t[idx[sub[np.flatnonzero(k)[-1]]]]
            idx, loc = idx[keep], loc[keep]
        return idx, loc

    def _triggers(self, t: np.ndarray, e: np.ndarray, cond: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Accepted triggers: (batch index of their evaluation point, stream time), suppressed."""
        if len(e) == 0:
            return e, np.empty(0, np.int64), 0
        if self.rising:
            prev = np.concatenate(([self.prev_cond], cond[:-1]))
            fire = cond & ~prev
        else:
            fire = cond
        self.prev_cond = bool(cond[-1])
        points = e[fire]
        cand = t[points]
        accepted = space_triggers(cand, self.trigger_interval, self.last_trigger)
        if len(accepted):
            self.last_trigger = int(cand[accepted[-1]])
        return points[accepted], cand[accepted], len(cand) - len(accepted)

    def _cap(self, loc: np.ndarray, seq: np.ndarray) -> np.ndarray:
        """Keep mask over samples in emission order: at most max_samples per (window, signal)."""
        if not self.capped or len(loc) == 0:
            return np.ones(len(loc), bool)
        rank, _ = group_ranks(seq * len(self.ids) + loc)
        prior = np.where(seq == self.window_seq, self.counts[loc], 0)
        return rank + prior < self.max_samples[loc]

    def _count(self, loc: np.ndarray, seq: np.ndarray, last_seq: int) -> None:
        """Samples kept per signal in the window that is open after this batch."""
        if last_seq != self.window_seq:
            self.counts[:] = 0
        mine = seq == last_seq
        np.add.at(self.counts, loc[mine], 1)

    def _pulls(
        self,
        pool_t: np.ndarray,
        pool_loc: np.ndarray,
        cut: np.ndarray,
        trig: np.ndarray,
        end_before: np.ndarray,
    ) -> list[tuple[int, np.ndarray]]:
        """Per trigger, the pool positions it takes from the ring: samples that arrived by its
        evaluation point (``cut``), not older than ``t - pre``, after the window end before it, and
        among the latest ring-full of their signal."""
        lo = np.maximum(end_before + 1, trig - self.pre)
        starts = np.searchsorted(pool_t, lo, side="left")
        out = []
        for k in np.flatnonzero(starts < cut).tolist():
            seg = np.arange(starts[k], cut[k])
            _, after = group_ranks(pool_loc[seg])
            out.append((k, seg[after < self.ring_cap[pool_loc[seg]]]))
        return out

    def process(self, b: BatchIndex, samples: np.ndarray, evaluated: tuple[np.ndarray, np.ndarray]) -> _Part:
        t = b.t
        idx, loc = self._candidates(b)
        ct = t[idx]
        if self.condition is None:
            return self._process_periodic(samples, idx, loc, ct)
        ring = self.ring
        assert ring is not None
        trig_idx, trig, suppressed = self._triggers(t, *evaluated)
        open_end = self.window_end
        if len(trig) == 0 and (len(ct) == 0 or ct[0] > open_end):  # nothing to emit: only the ring moves
            if len(ct):
                self._push_ring(
                    records_cat((ring.records, samples[idx])),
                    np.concatenate((ring.t, ct)),
                    np.concatenate((ring.local, loc)),
                    int(t[-1]),
                )
            return _Part(samples[:0], np.empty(0, np.int64), trig, suppressed, 0)
        end_after = np.maximum.accumulate(np.maximum(trig + self.post, open_end))
        end_before = np.concatenate(([open_end], end_after[:-1]))[: len(trig)]
        new = trig - self.pre > end_before
        seq_k = self.window_seq + np.cumsum(new)
        # live: the window is open when the sample arrives (triggers at earlier points only)
        if len(trig):
            k_before = np.searchsorted(trig_idx, idx, side="left") - 1  # last trigger before each sample
            end_j = np.where(k_before >= 0, end_after[np.maximum(k_before, 0)], open_end)
            seq_j = np.where(k_before >= 0, seq_k[np.maximum(k_before, 0)], self.window_seq)
        else:
            end_j = np.full(len(idx), open_end)
            seq_j = np.full(len(idx), self.window_seq)
        live = np.flatnonzero(ct <= end_j)
        n_ring = len(ring.t)
        pool_t = np.concatenate((ring.t, ct))
        pool_loc = np.concatenate((ring.local, loc))
        pool_rec = records_cat((ring.records, samples[idx]))
        cut = n_ring + np.searchsorted(idx, trig_idx, side="right")
        pulls = self._pulls(pool_t, pool_loc, cut, trig, end_before)
        # emission order: a live sample when it arrives, a trigger's pull right after its point
        pos = np.concatenate([n_ring + live, *(g for _, g in pulls)]).astype(np.int64)
        emit_at = np.concatenate([idx[live], *(np.full(len(g), trig_idx[k]) for k, g in pulls)])
        pulled = np.concatenate([np.zeros(len(live), np.int8), *(np.ones(len(g), np.int8) for _, g in pulls)])
        seq = np.concatenate([seq_j[live], *(np.full(len(g), seq_k[k]) for k, g in pulls)])
        order = np.lexsort((pos, pulled, emit_at))
        pos, seq = pos[order], seq[order].astype(np.int64)
        keep = self._cap(pool_loc[pos], seq)
        pos, seq = pos[keep], seq[keep]
        last_seq = int(seq_k[-1]) if len(trig) else self.window_seq
        self._count(pool_loc[pos], seq, last_seq)
        self.window_seq = last_seq
        self.window_end = int(end_after[-1]) if len(trig) else open_end
        self._push_ring(pool_rec, pool_t, pool_loc, int(t[-1]))
        return _Part(pool_rec[pos], seq, trig, suppressed, int((~new).sum()))

    def _process_periodic(
        self, samples: np.ndarray, idx: np.ndarray, loc: np.ndarray, ct: np.ndarray
    ) -> _Part:
        seq = ct // self.period
        rec = samples[idx]
        keep = self._cap(loc, seq)
        rec, loc, seq = rec[keep], loc[keep], seq[keep]
        trig = np.empty(0, np.int64)
        if len(seq):
            periods = np.unique(seq)
            closed = np.concatenate(([self.window_seq], periods[:-1]))
            closed = closed[(closed >= 0) & (closed != periods)]
            trig = (closed + 1) * self.period
            last_seq = int(periods[-1])
            self._count(loc, seq, last_seq)
            self.window_seq = last_seq
        return _Part(rec, seq, trig.astype(np.int64))

    def _push_ring(self, records: np.ndarray, t: np.ndarray, loc: np.ndarray, now: int) -> None:
        """Keep what a later trigger may still take: not older than ``now - pre``, a ring-full each."""
        ring = self.ring
        assert ring is not None
        a = int(np.searchsorted(t, now - self.pre, side="left"))  # t ascending (stream time)
        records, t, loc = records[a:], t[a:], loc[a:]
        if len(t) > self.ring_cap_min:  # some signal may hold more than its ring-full
            _, after = group_ranks(loc)
            keep = after < self.ring_cap[loc]
            records, t, loc = records[keep], t[keep], loc[keep]
        ring.records, ring.t, ring.local = records, t, loc


class CampaignSet:
    """The active campaigns of one vehicle (or of a dry-run) over one sample stream."""

    def __init__(
        self,
        campaigns: Iterable[Campaign],
        index: SignalIndex,
        *,
        memory_limit_bytes: int = 256 << 20,
        default_ring_samples: int = 1024,
    ) -> None:
        ordered = sorted(campaigns, key=lambda c: (-c.priority, c.name))
        names = [c.name for c in ordered]
        if len(set(names)) != len(names):
            dupe = next(n for n in names if names.count(n) > 1)
            raise CampaignError("two campaigns of the set have this name", campaign=dupe)
        if len(ordered) > np.iinfo(np.uint16).max:
            raise CampaignError(f"{len(ordered)} campaigns; at most 65535 at once")
        self.runs: list[CampaignRun] = []
        self.reports: list[MemoryReport] = []
        total = 0
        for c in ordered:
            run = CampaignRun(c, index, default_ring_samples)
            report = run.memory()
            total += report.total
            if total > memory_limit_bytes:
                raise CampaignError(
                    f"the campaigns would hold up to {total:,} bytes with this one ({report.total:,}), "
                    f"over the limit of {memory_limit_bytes:,}",
                    campaign=c.name,
                )
            self.runs.append(run)
            self.reports.append(report)
        self.names = names
        self.memory_limit_bytes = memory_limit_bytes
        slot_ids = sorted(
            {int(s) for r in self.runs for s in r.ids}
            | {int(s) for r in self.runs if r.condition for s in r.condition.refs}
        )
        conditions = [r.condition for r in self.runs if r.condition is not None]
        self._conditions = ConditionSet(conditions, np.array(slot_ids, np.int64))
        self._cond_of: list[int] = []  # run -> its index in the condition set, or -1
        for r in self.runs:
            r.slots = np.searchsorted(slot_ids, r.ids).astype(np.int64)
            self._cond_of.append(sum(c >= 0 for c in self._cond_of) if r.condition else -1)
        self._shared_bytes = (
            len(slot_ids) * CARRIED_SIGNAL_BYTES + self._conditions.windows.n * WINDOW_STATE_BYTES
        )
        if self.runs and self.memory_bytes > memory_limit_bytes:
            raise CampaignError(
                f"the campaigns would hold up to {self.memory_bytes:,} bytes with the values and windows "
                f"their conditions share, over the limit of {memory_limit_bytes:,}",
                campaign=self.runs[-1].campaign.name,
            )
        self._t_max = NEVER

    @property
    def memory_bytes(self) -> int:
        """Upper bound of the state all campaigns hold (rings, carried values, windows)."""
        return sum(r.total for r in self.reports) + self._shared_bytes

    def __len__(self) -> int:
        return len(self.runs)

    def adopt(self, old: CampaignSet) -> int:
        """Take over the state of ``old`` (before any batch of this set): stream time, carried
        values and windows of the signals both read, and the windows, rings and trigger state of
        every campaign both run unchanged (the same document), so replacing the set when one
        campaign is added or changed does not cut the others' windows. Returns how many runs went on."""
        self._t_max = old._t_max
        self._conditions.adopt(old._conditions)
        by_name = {r.campaign.name: r for r in old.runs}
        kept = 0
        for r in self.runs:
            o = by_name.get(r.campaign.name)
            if o is not None and o.campaign == r.campaign:
                for attr in CampaignRun.STATE:
                    setattr(r, attr, getattr(o, attr))
                kept += 1
        return kept

    def active(self, now: dt.datetime) -> list[str]:
        return [r.campaign.name for r in self.runs if r.campaign.active_at(now)]

    def process(self, samples: np.ndarray) -> Selection:
        """Evaluate every campaign over one batch of SAMPLE_DTYPE records."""
        samples = np.asarray(samples)
        if samples.dtype != SAMPLE_DTYPE:
            samples = np.frombuffer(samples, SAMPLE_DTYPE)
        n = len(self.runs)
        if len(samples) == 0 or n == 0:
            return _empty(n)
        t = stream_time(samples["timestamp_ns"], self._t_max)
        self._t_max = int(t[-1])
        sid = samples["signal_id"].astype(np.int64)
        cs = self._conditions
        b = cs.index(t, sid, samples)
        evaluated = cs.evaluate(b)
        none = (b.pos[:0], np.zeros(0, bool))
        parts = [
            run.process(b, samples, evaluated[c] if c >= 0 else none)
            for run, c in zip(self.runs, self._cond_of, strict=True)
        ]
        cs.advance(b)
        return Selection(
            samples=records_cat([p.records for p in parts]),
            campaign=np.repeat(np.arange(n, dtype=np.uint16), [len(p.records) for p in parts]),
            window=np.concatenate([p.window for p in parts]).astype(np.int64),
            trigger_campaign=np.repeat(np.arange(n, dtype=np.uint16), [len(p.triggers) for p in parts]),
            trigger_time_ns=np.concatenate([p.triggers for p in parts]).astype(np.int64),
            suppressed=np.array([p.suppressed for p in parts], np.int64),
            overlaps=np.array([p.overlaps for p in parts], np.int64),
        )


def _empty(n: int) -> Selection:
    return Selection(
        np.empty(0, SAMPLE_DTYPE),
        np.empty(0, np.uint16),
        np.empty(0, np.int64),
        np.empty(0, np.uint16),
        np.empty(0, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
    )


def campaign_set(campaigns: Sequence[Campaign], catalog_or_index, **kw) -> CampaignSet:
    """A :class:`CampaignSet` from a SignalCatalog or a SignalIndex."""
    index = (
        catalog_or_index
        if isinstance(catalog_or_index, SignalIndex)
        else SignalIndex.from_catalog(catalog_or_index)
    )
    return CampaignSet(campaigns, index, **kw)


__all__ = ["CampaignRun", "CampaignSet", "MemoryReport", "Selection", "campaign_set"]
