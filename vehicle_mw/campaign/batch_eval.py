"""One pass per batch over the evaluation points of every condition of a campaign set.

Per batch, the samples of the signals any campaign reads or collects are grouped by signal once
(:class:`BatchIndex`). Conditions with the same tree *shape* (the same operators and functions,
whatever their signals and constants) form a group, and each node of the shape is one numpy call
over the concatenated evaluation points of all members of the group; signal look-ups are one
``searchsorted`` into the batch's (signal, position) keys. The cost per batch is then per shape and
per evaluation point, not per campaign. Semantics are those of docs/campaigns.md ("Evaluation
semantics"); ``tests/campaign/campaign_reference.py`` is the per-sample reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vehicle_mw.campaign.evaluator import _ARITH, _CMP, NS_PER_MS, CompiledCondition, WindowRef, truth
from vehicle_mw.campaign.expression import WINDOW_FUNCTIONS, Binary, Call, Node, Num, Signal, Unary
from vehicle_mw.signals.decoder import column_values_as_float

WINDOW_TAIL = 3  # windows kept per (signal, window) across batches: open, last, previous
_as_float = column_values_as_float


def stream_time(timestamps: np.ndarray, t_max: int) -> np.ndarray:
    """Running maximum of the timestamps, starting from ``t_max`` (int64).

    Most batches are already in order; checking that is several times cheaper than the
    (unvectorised) ``maximum.accumulate``."""
    t = timestamps.astype(np.int64)
    if len(t) and t[0] >= t_max and bool((t[1:] >= t[:-1]).all()):
        return t
    return np.maximum.accumulate(np.maximum(t, t_max))


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for each pair, without a Python loop."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offs = np.cumsum(lens) - lens
    return np.repeat(starts - offs, lens) + np.arange(total)


class BatchIndex:
    """One batch's samples of the signals of interest, grouped by signal slot (one sort).

    Each slot's group starts with a *carried* entry (position -1) holding the signal's value and
    time from before the batch, so "the latest sample at or before a point" is one searchsorted
    and always lands in the signal's own group.
    """

    def __init__(
        self,
        t: np.ndarray,
        sid: np.ndarray,
        samples: np.ndarray,
        lut: np.ndarray,
        carried: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.t = t
        self.n = len(t)
        n_slots = len(carried[0])
        s = np.take(lut, sid, mode="clip")  # ids past the table land on its last entry, -1
        rel = np.flatnonzero(s >= 0)
        n1 = self.n + 1
        real_key = np.sort(s[rel] * n1 + rel + 1)  # (slot, position + 1): sorting it is the grouping
        real_slot = real_key // n1
        real_pos = real_key - real_slot * n1 - 1
        real_start = np.searchsorted(real_slot, np.arange(n_slots + 1))
        self.start = real_start + np.arange(n_slots + 1)  # slot s: [start[s], start[s+1]), carried first
        at = np.arange(len(real_pos)) + real_slot + 1  # where each real entry goes
        virt = self.start[:-1]
        size = len(real_pos) + n_slots
        self.pos = np.empty(size, np.int64)
        self.pos[at], self.pos[virt] = real_pos, -1
        self.val = np.empty(size)
        self.val[at] = _as_float(samples["kind"][real_pos], samples["value"][real_pos])
        self.val[virt] = carried[0]
        self.ts = np.empty(size, np.int64)
        self.ts[at], self.ts[virt] = t[real_pos], carried[1]
        self.key = np.empty(size, np.int64)
        self.key[at], self.key[virt] = real_key, np.arange(n_slots) * n1

    def gather(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into the grouped arrays of the samples of ``slots``, which entry of ``slots``)."""
        a, b = self.start[slots] + 1, self.start[slots + 1]
        return ranges(a, b), np.repeat(np.arange(len(slots)), b - a)

    def positions(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Batch indices (ascending) of the samples of ``slots`` and, per index, its entry in slots."""
        j, which = self.gather(slots)
        idx = self.pos[j]
        if len(slots) > 1:
            order = np.argsort(idx, kind="stable")
            idx, which = idx[order], which[order]
        return idx, which


def _plan(node: Node, ids: dict[str, int], slot_of: dict[int, int], win: dict[WindowRef, int], params: list):
    """The node's shape (a hashable tuple) with its signals and constants moved into ``params``."""

    def param(v) -> int:
        params.append(v)
        return len(params) - 1

    if isinstance(node, Num):
        return ("num", param(node.value))
    if isinstance(node, Signal):
        return ("sig", param(slot_of[ids[node.name]]))
    if isinstance(node, Unary):
        return ("neg" if node.op == "-" else "not", _plan(node.operand, ids, slot_of, win, params))
    if isinstance(node, Binary):
        left = _plan(node.left, ids, slot_of, win, params)
        return ("bin", node.op, left, _plan(node.right, ids, slot_of, win, params))
    assert isinstance(node, Call)
    f = node.func
    if f in ("abs", "min", "max"):
        return (f, tuple(_plan(a, ids, slot_of, win, params) for a in node.args))
    sig = node.args[0]
    assert isinstance(sig, Signal)
    sid = ids[sig.name]
    if f == "changed":
        return ("changed", param(slot_of[sid]))
    if f == "is_null":
        k = param(slot_of[sid])
        if len(node.args) < 2:
            return ("is_null", k, None)
        timeout = node.args[1]
        assert isinstance(timeout, Num)
        return ("is_null", k, param(int(timeout.value) * NS_PER_MS))
    assert f in WINDOW_FUNCTIONS
    arg1 = node.args[1]
    assert isinstance(arg1, Num)
    when, _, agg = f.split("_")
    return ("win", param(win[WindowRef(sid, int(arg1.value) * NS_PER_MS)]), 1 if when == "last" else 2, agg)


@dataclass
class _Group:
    """Conditions of one shape: member condition indices, parameter columns, what they read."""

    shape: tuple
    members: list[int]
    cols: list[np.ndarray]
    uniform: list  # per column: the value all members share, else None
    ref_slots: np.ndarray  # slots every member reads, member after member
    ref_member: np.ndarray  # member (0..len(members)-1) of each entry of ref_slots


class _Windows:
    """Fixed-window tables of every (signal, window) conditions read, as flat sorted arrays."""

    def __init__(self, refs: Sequence[WindowRef], slot_of: dict[int, int]) -> None:
        self.n = len(refs)
        self.slot = np.array([slot_of[r.signal_id] for r in refs], np.int64)
        self.slot_id = np.array([r.signal_id for r in refs], np.int64)  # the signal, whatever its slot
        self.width = np.array([r.window_ns for r in refs], np.int64)
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0)
        # carried tails, sorted by (ref, window id)
        self.ref, self.wid, self.count = empty_i, empty_i, empty_i
        self.total, self.low, self.high = empty_f, empty_f, empty_f
        self.shift = (1 << 62) // max(self.n, 1)

    def merged(self, b: BatchIndex) -> tuple[np.ndarray, ...]:
        """(ref, wid, count, total, low, high) including this batch, sorted by (ref, wid)."""
        j, ref = b.gather(self.slot)
        wid = b.ts[j] // self.width[ref]
        v = b.val[j]
        ref = np.concatenate((self.ref, ref))
        wid = np.concatenate((self.wid, wid))
        order = np.lexsort((wid, ref))  # stable: the carried row of a window before its new samples
        ref, wid = ref[order], wid[order]
        if len(ref) == 0:
            return ref, wid, self.count, self.total, self.low, self.high
        cols = [
            np.concatenate((c, x))[order]
            for c, x in (
                (self.count, np.ones(len(v), np.int64)),
                (self.total, v),
                (self.low, v),
                (self.high, v),
            )
        ]
        starts = np.flatnonzero(np.concatenate(([True], (ref[1:] != ref[:-1]) | (wid[1:] != wid[:-1]))))
        return (
            ref[starts],
            wid[starts],
            np.add.reduceat(cols[0], starts),
            np.add.reduceat(cols[1], starts),
            np.minimum.reduceat(cols[2], starts),
            np.maximum.reduceat(cols[3], starts),
        )

    def keep_tail(self, table: tuple[np.ndarray, ...]) -> None:
        ref = table[0]
        per_ref = np.bincount(ref, minlength=self.n)
        ends = np.cumsum(per_ref)
        keep = ends[ref] - np.arange(len(ref)) <= WINDOW_TAIL
        self.ref, self.wid, self.count, self.total, self.low, self.high = (c[keep] for c in table)


class _Lookup:
    """Window look-ups into one batch's merged table by (ref, window id)."""

    def __init__(self, windows: _Windows, table: tuple[np.ndarray, ...]) -> None:
        self.w = windows
        self.ref, self.wid, count, total, low, high = table
        # an average lies within its window's min and max, and equals them when they are equal:
        # partial sums carried across batches round in another order than one running sum, and a
        # constant 748.7332 must not average to 748.7332000000001 against a threshold of 748.7332
        avg = np.where(low == high, low, np.clip(total / np.maximum(count, 1), low, high))
        self.agg = {"min": low, "max": high, "avg": avg}
        base = np.zeros(windows.n, np.int64)
        if len(self.ref):
            first = np.concatenate(([True], self.ref[1:] != self.ref[:-1]))
            base[self.ref[first]] = self.wid[first]
        self.base = base
        rel = self.wid - base[self.ref]
        self.exact = bool(len(rel) == 0 or rel.max() < windows.shift)
        self.key = self.ref * windows.shift + rel if self.exact else None

    def get(self, ref: np.ndarray, wanted: np.ndarray, agg: str) -> np.ndarray:
        out = np.full(len(wanted), np.nan)
        if len(self.ref) == 0:
            return out
        src = self.agg[agg]
        if not self.exact:  # a batch spanning more windows than the key holds: per window table
            for r in np.unique(ref).tolist():
                mine = np.flatnonzero(ref == r)
                rows = np.flatnonzero(self.ref == r)
                if len(rows) == 0:
                    continue
                k = np.minimum(np.searchsorted(self.wid[rows], wanted[mine]), len(rows) - 1)
                hit = self.wid[rows[k]] == wanted[mine]
                out[mine[hit]] = src[rows[k[hit]]]
            return out
        rel = wanted - self.base[ref]
        ok = (rel >= 0) & (rel < self.w.shift)
        key = ref * self.w.shift + np.where(ok, rel, 0)
        k = np.minimum(np.searchsorted(self.key, key), len(self.key) - 1)
        hit = ok & (self.key[k] == key)
        out[hit] = src[k[hit]]
        return out


def _f(x):
    """A truth array (bool) read as numbers for arithmetic (1.0 / 0.0)."""
    return x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype == np.bool_ else x


def _truth(x):
    return x if isinstance(x, np.ndarray) and x.dtype == np.bool_ else truth(x)


class _GroupEval:
    """Evaluates one group's shape over the concatenated evaluation points of its members.

    A node gives a float array, a bool array (comparisons, logic) or a scalar (a constant every
    member shares); they are converted only where an operator needs it."""

    def __init__(self, cs: ConditionSet, b: BatchIndex, g: _Group) -> None:
        self.cs, self.b, self.g = cs, b, g
        j, member = b.gather(g.ref_slots)
        n1 = b.n + 1
        key = np.sort(g.ref_member[member] * n1 + b.pos[j])
        self.m = key // n1  # member per point
        self.e = key - self.m * n1  # batch index per point
        self._te: np.ndarray | None = None
        self._last: dict[object, np.ndarray] = {}

    @property
    def te(self) -> np.ndarray:
        if self._te is None:
            self._te = self.b.t[self.e]
        return self._te

    def bounds(self) -> list[int]:
        return np.searchsorted(self.m, np.arange(len(self.g.members) + 1)).tolist()

    def col(self, k: int):
        same = self.g.uniform[k]
        return same if same is not None else self.g.cols[k][self.m]

    def last(self, k: int) -> np.ndarray:
        """Index into the batch's grouped arrays of the signal's latest entry at each point."""
        same = self.g.uniform[k]
        ident = ("all", int(same)) if same is not None else self.g.cols[k].tobytes()  # a signal read twice
        got = self._last.get(ident)
        if got is None:
            b = self.b
            got = np.searchsorted(b.key, self.col(k) * (b.n + 1) + self.e + 1, side="right") - 1
            self._last[ident] = got
        return got

    def run(self, node: tuple):
        kind = node[0]
        if kind == "num":
            return self.col(node[1])
        if kind == "sig":
            return self.b.val[self.last(node[1])]
        if kind == "neg":
            return np.negative(_f(self.run(node[1])))
        if kind == "not":
            return ~_truth(self.run(node[1]))
        if kind == "bin":
            _, op, left, right = node
            a, b = self.run(left), self.run(right)
            if op in _CMP:
                if op != "!=":  # NaN compares false already
                    return _CMP[op](a, b)
                return (a != b) & ~np.isnan(_f(a)) & ~np.isnan(_f(b))
            if op == "and":
                return _truth(a) & _truth(b)
            if op == "or":
                return _truth(a) | _truth(b)
            a, b = _f(a), _f(b)
            if op == "/":
                return np.where(np.not_equal(b, 0), np.true_divide(a, b), np.nan)
            return _ARITH[op](a, b)
        if kind == "abs":
            return np.abs(_f(self.run(node[1][0])))
        if kind in ("min", "max"):
            fn = np.minimum if kind == "min" else np.maximum  # both propagate null
            out = _f(self.run(node[1][0]))
            for a in node[1][1:]:
                out = fn(out, _f(self.run(a)))
            return out
        if kind == "changed":
            j = self.last(node[1])
            return (self.b.pos[j] == self.e) & self.cs.differs(self.b)[j]
        if kind == "is_null":
            last_t = self.b.ts[self.last(node[1])]
            null = last_t < 0
            if node[2] is not None:
                null |= self.te - last_t > self.col(node[2])
            return null
        assert kind == "win"
        _, k, back, agg = node
        ref = self.col(k)
        width = self.cs.windows.width[ref]
        return self.cs.window_lookup(self.b).get(
            np.broadcast_to(ref, self.e.shape), self.te // width - back, agg
        )


class ConditionSet:
    """Compiled conditions of a campaign set and the state they share across batches.

    ``slot_ids`` are every signal id of interest (conditions' and collected ones), sorted; the
    batch index groups their samples. Values and times are carried for all of them.
    """

    def __init__(self, conditions: Sequence[CompiledCondition], slot_ids: np.ndarray) -> None:
        self.slot_ids = np.asarray(slot_ids, np.int64)
        slot_of = {int(s): k for k, s in enumerate(self.slot_ids.tolist())}
        top = int(self.slot_ids.max()) + 1 if len(self.slot_ids) else 0
        self.lut = np.full(top + 1, -1, np.int64)  # id -> slot; the last entry is "any larger id"
        self.lut[self.slot_ids] = np.arange(len(self.slot_ids))
        refs: dict[WindowRef, int] = {}
        for c in conditions:
            for w in c.windows:
                refs.setdefault(w, len(refs))
        self.windows = _Windows(list(refs), slot_of)
        by_shape: dict[tuple, tuple[list[int], list[list]]] = {}
        for i, c in enumerate(conditions):
            params: list = []
            shape = _plan(c.tree, c.ids, slot_of, refs, params)
            members, rows = by_shape.setdefault(shape, ([], []))
            members.append(i)
            rows.append(params)
        self.groups: list[_Group] = []
        for shape, (members, rows) in by_shape.items():
            cols = [np.array(col) for col in zip(*rows, strict=True)] if rows[0] else []
            reads = [np.array([slot_of[int(s)] for s in conditions[i].refs], np.int64) for i in members]
            self.groups.append(
                _Group(
                    shape,
                    members,
                    cols,
                    [c[0] if len(c) and (c == c[0]).all() else None for c in cols],
                    np.concatenate(reads),
                    np.repeat(np.arange(len(members)), [len(r) for r in reads]),
                )
            )
        self.n_conditions = len(conditions)
        self.last_value = np.full(len(self.slot_ids), np.nan)
        self.last_t = np.full(len(self.slot_ids), -1, np.int64)  # stream time of the latest; -1 none
        self._differs: tuple[BatchIndex, np.ndarray] | None = None
        self._table: tuple[BatchIndex, tuple, _Lookup] | None = None
        self._t_max = -(2**62)

    @classmethod
    def of(cls, campaigns, index) -> ConditionSet:
        """The conditions of ``campaigns`` alone (no selection): for the bench and its check."""
        from vehicle_mw.campaign.document import ConditionBased
        from vehicle_mw.campaign.evaluator import compile_condition
        from vehicle_mw.campaign.expression import parse_expression

        conds = [
            compile_condition(parse_expression(c.collection.expression, c.name), index, c.name)
            for c in campaigns
            if isinstance(c.collection, ConditionBased)
        ]
        return cls(conds, np.array(sorted({int(s) for c in conds for s in c.refs}), np.int64))

    def feed(self, samples: np.ndarray) -> list[np.ndarray]:
        """Evaluate one SAMPLE_DTYPE batch; per condition, the stream times at which it is true."""
        if len(samples) == 0:
            return [np.empty(0, np.int64)] * self.n_conditions
        t = stream_time(samples["timestamp_ns"], self._t_max)
        self._t_max = int(t[-1])
        b = self.index(t, samples["signal_id"].astype(np.int64), samples)
        out = [t[e[c]] for e, c in self.evaluate(b)]
        self.advance(b)
        return out

    def adopt(self, old: ConditionSet) -> None:
        """Carried values and times of the signals both sets know, and the window tails of the
        (signal, window) pairs both read (CampaignSet.adopt)."""
        common, mine, theirs = np.intersect1d(self.slot_ids, old.slot_ids, return_indices=True)
        self.last_value[mine] = old.last_value[theirs]
        self.last_t[mine] = old.last_t[theirs]
        self._t_max = old._t_max
        w, ow = self.windows, old.windows
        if not w.n or not len(ow.ref):
            return
        mine_ref = {(int(s), int(n)): k for k, (s, n) in enumerate(zip(w.slot_id, w.width, strict=True))}
        to_new = np.array(
            [mine_ref.get((int(s), int(n)), -1) for s, n in zip(ow.slot_id, ow.width, strict=True)], np.int64
        )
        ref = to_new[ow.ref]
        keep = ref >= 0
        order = np.lexsort((ow.wid[keep], ref[keep]))
        w.ref = ref[keep][order]
        w.wid, w.count = ow.wid[keep][order], ow.count[keep][order]
        w.total, w.low, w.high = ow.total[keep][order], ow.low[keep][order], ow.high[keep][order]

    @property
    def shapes(self) -> int:
        return len(self.groups)

    def index(self, t: np.ndarray, sid: np.ndarray, samples: np.ndarray) -> BatchIndex:
        return BatchIndex(t, sid, samples, self.lut, (self.last_value, self.last_t))

    def differs(self, b: BatchIndex) -> np.ndarray:
        """Per grouped entry: its value differs from the entry before it (its signal's previous
        value: the carried entry comes first; a first sample after null counts)."""
        if self._differs is None or self._differs[0] is not b:
            self._differs = (b, np.concatenate(([True], b.val[1:] != b.val[:-1])))
        return self._differs[1]

    def window_lookup(self, b: BatchIndex) -> _Lookup:
        if self._table is None or self._table[0] is not b:
            table = self.windows.merged(b)
            self._table = (b, table, _Lookup(self.windows, table))
        return self._table[2]

    def evaluate(self, b: BatchIndex) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per condition: (evaluation point batch indices, condition truth at each)."""
        out: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.int64), np.zeros(0, bool))] * (
            self.n_conditions
        )
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for g in self.groups:
                ev = _GroupEval(self, b, g)
                if len(ev.e) == 0:
                    continue
                got = np.broadcast_to(_truth(ev.run(g.shape)), ev.e.shape)
                bounds = ev.bounds()
                for k, i in enumerate(g.members):
                    a, z = bounds[k], bounds[k + 1]
                    out[i] = (ev.e[a:z], got[a:z])
        return out

    def advance(self, b: BatchIndex) -> None:
        """Carry values, times and window tails past this batch."""
        if self.windows.n:
            lookup_table = self._table[1] if self._table and self._table[0] is b else self.windows.merged(b)
            self.windows.keep_tail(lookup_table)
        slots = np.flatnonzero(b.start[1:] - b.start[:-1] > 1)
        last = b.start[slots + 1] - 1
        self.last_value[slots] = b.val[last]
        self.last_t[slots] = b.ts[last]
        self._differs = self._table = None


__all__ = ["BatchIndex", "ConditionSet", "ranges", "stream_time"]
