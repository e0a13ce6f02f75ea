"""Vectorized evaluation of condition trees over sample batches.

A condition is evaluated at its *evaluation points*: every sample (in batch order) of a signal the
expression reads, with each signal's value carried forward from its latest sample at or before that
point (null -- NaN -- before its first sample). Time is *stream time*: the running maximum of the
sample timestamps seen so far, so time never goes backwards even when buses interleave.

The tree is evaluated once per batch on numpy arrays of evaluation points, never per sample:
signal look-ups are a ``searchsorted`` into that signal's positions in the batch, window functions a
``reduceat`` per fixed window. Null semantics: arithmetic on null is null; ``x / 0`` is null;
``min``/``max``/``abs`` of null are null; a comparison with a null operand is false (also ``!=``);
``and``/``or``/``not`` read a value as true when it is non-zero and not null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.campaign.errors import ExpressionError
from vehicle_mw.campaign.expression import WINDOW_FUNCTIONS, Binary, Call, Node, Num, Signal, Unary, walk

NS_PER_MS = 1_000_000
_CMP = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply}


class SignalIndex:
    """Names to signal ids: catalog names (``Message.Signal``) and VSS paths."""

    def __init__(self, ids: Mapping[str, int]) -> None:
        self.ids = dict(ids)

    @classmethod
    def from_catalog(cls, catalog) -> SignalIndex:
        """Every signal of a :class:`~vehicle_mw.signals.SignalCatalog` by name and by VSS path.

        A name carried by several buses is left out (ambiguous); use its VSS path.
        """
        ids: dict[str, int] = {}
        counts: dict[str, int] = {}
        for s in catalog.signals:
            counts[s.name] = counts.get(s.name, 0) + 1
            ids[s.name] = s.id
        for name, n in counts.items():
            if n > 1:
                del ids[name]
        for s in catalog.signals:
            if s.vss:
                ids[s.vss] = s.id
        return cls(ids)

    def resolve(self, name: str) -> int | None:
        return self.ids.get(name)


def truth(x: np.ndarray) -> np.ndarray:
    """Boolean reading of values: non-zero and not null."""
    return (x != 0) & ~np.isnan(x)


@dataclass(frozen=True)
class WindowRef:
    """A (signal, fixed window) pair some window function reads."""

    signal_id: int
    window_ns: int


@dataclass
class CompiledCondition:
    """A tree whose signal names are resolved to ids, with what it reads."""

    tree: Node
    ids: dict[str, int]  # name -> signal id
    refs: np.ndarray  # sorted unique signal ids read (the evaluation points' signals)
    windows: tuple[WindowRef, ...]
    nodes: int


def compile_condition(
    tree: Node, index: SignalIndex, campaign: str | None = None, text: str = ""
) -> CompiledCondition:
    """Resolve signal names; an unknown name is an :class:`ExpressionError` at its position."""
    ids: dict[str, int] = {}
    windows: dict[WindowRef, None] = {}
    count = 0
    for n in walk(tree):
        count += 1
        if isinstance(n, Signal):
            sid = index.resolve(n.name)
            if sid is None:
                raise ExpressionError(
                    f"no signal {n.name!r} in the catalog (by name or VSS path)",
                    position=n.pos + 1,
                    text=text,
                    campaign=campaign,
                )
            ids[n.name] = sid
        elif isinstance(n, Call) and n.func in WINDOW_FUNCTIONS:
            sig = n.args[0]
            assert isinstance(sig, Signal) and isinstance(n.args[1], Num)
            sid = index.resolve(sig.name)
            if sid is not None:
                windows[WindowRef(sid, int(n.args[1].value) * NS_PER_MS)] = None
    refs = np.array(sorted(set(ids.values())), dtype=np.int64)
    return CompiledCondition(tree, ids, refs, tuple(windows), count)


@dataclass
class SignalState:
    """What is carried across batches for signals conditions read (shared by all campaigns)."""

    ids: np.ndarray  # sorted signal ids
    last_value: np.ndarray = field(init=False)
    last_t: np.ndarray = field(init=False)  # stream time of the latest sample; -1 = none yet

    def __post_init__(self) -> None:
        self.last_value = np.full(len(self.ids), np.nan)
        self.last_t = np.full(len(self.ids), -1, dtype=np.int64)

    def slot(self, signal_id: int) -> int:
        return int(np.searchsorted(self.ids, signal_id))


@dataclass
class WindowState:
    """The last three fixed windows of one (signal, window): id, count, sum, min, max."""

    wid: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    count: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    total: np.ndarray = field(default_factory=lambda: np.empty(0))
    low: np.ndarray = field(default_factory=lambda: np.empty(0))
    high: np.ndarray = field(default_factory=lambda: np.empty(0))

    BYTES = 3 * 40  # what it holds at most

    def merged(self, t: np.ndarray, v: np.ndarray, window_ns: int) -> WindowState:
        """This state plus one batch's samples of the signal (stream times ``t``, values ``v``)."""
        if len(t) == 0:
            return self
        w = t // window_ns
        starts = np.concatenate(([0], np.flatnonzero(np.diff(w)) + 1))
        bw = w[starts]
        bc = np.diff(np.append(starts, len(w)))
        bs = np.add.reduceat(v, starts)
        blo = np.minimum.reduceat(v, starts)
        bhi = np.maximum.reduceat(v, starts)
        wid, cnt, tot, lo, hi = self.wid, self.count, self.total, self.low, self.high
        if len(wid) and wid[-1] == bw[0]:  # the open window continues
            bc[0] += cnt[-1]
            bs[0] += tot[-1]
            blo[0] = np.minimum(blo[0], lo[-1])
            bhi[0] = np.maximum(bhi[0], hi[-1])
            wid, cnt, tot, lo, hi = wid[:-1], cnt[:-1], tot[:-1], lo[:-1], hi[:-1]
        return WindowState(
            np.concatenate((wid, bw)),
            np.concatenate((cnt, bc)),
            np.concatenate((tot, bs)),
            np.concatenate((lo, blo)),
            np.concatenate((hi, bhi)),
        )

    def tail(self) -> WindowState:
        return WindowState(self.wid[-3:], self.count[-3:], self.total[-3:], self.low[-3:], self.high[-3:])

    def lookup(self, wanted: np.ndarray, agg: str) -> np.ndarray:
        """Aggregate of window ids ``wanted``; null where the window had no sample."""
        out = np.full(len(wanted), np.nan)
        if len(self.wid) == 0:
            return out
        j = np.searchsorted(self.wid, wanted)
        jc = np.minimum(j, len(self.wid) - 1)
        found = self.wid[jc] == wanted
        if agg == "min":
            src = self.low
        elif agg == "max":
            src = self.high
        else:
            src = self.total / self.count
        out[found] = src[jc[found]]
        return out


class BatchView:
    """One batch's samples grouped by the signals conditions read, shared by every campaign."""

    def __init__(
        self,
        t: np.ndarray,
        signal_id: np.ndarray,
        values: np.ndarray,
        state: SignalState,
        windows: Mapping[WindowRef, WindowState],
    ) -> None:
        self.t = t
        self.values = values
        self.state = state
        rel = np.flatnonzero(np.isin(signal_id, state.ids))
        sids = signal_id[rel]
        order = np.argsort(sids, kind="stable")
        self._pos = rel[order]
        sorted_ids = sids[order]
        self._uniq, self._starts = np.unique(sorted_ids, return_index=True)
        self._ends = np.append(self._starts[1:], len(sorted_ids))
        self._windows_before = windows
        self._windows: dict[WindowRef, WindowState] = {}

    def positions(self, signal_id: int) -> np.ndarray:
        """Batch indices of the signal's samples, ascending."""
        k = int(np.searchsorted(self._uniq, signal_id))
        if k < len(self._uniq) and self._uniq[k] == signal_id:
            return self._pos[self._starts[k] : self._ends[k]]
        return self._pos[:0]

    def window(self, ref: WindowRef) -> WindowState:
        """The window table of (signal, window) including this batch."""
        got = self._windows.get(ref)
        if got is None:
            pos = self.positions(ref.signal_id)
            got = self._windows_before[ref].merged(self.t[pos], self.values[pos], ref.window_ns)
            self._windows[ref] = got
        return got

    def end_state(self, windows: dict[WindowRef, WindowState]) -> None:
        """Carry signal values, times and windows past this batch."""
        st = self.state
        for k, sid in enumerate(self._uniq.tolist()):
            last = self._pos[self._ends[k] - 1]
            slot = st.slot(sid)
            st.last_value[slot] = self.values[last]
            st.last_t[slot] = self.t[last]
        for ref in windows:
            windows[ref] = self.window(ref).tail()


def evaluation_points(view: BatchView, cond: CompiledCondition) -> np.ndarray:
    """Batch indices at which the condition is evaluated: samples of the signals it reads."""
    parts = [view.positions(int(s)) for s in cond.refs]
    if not parts:
        return np.empty(0, np.int64)
    return np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]


class _Eval:
    """Evaluates one compiled tree at points ``e`` of a batch view."""

    def __init__(self, view: BatchView, cond: CompiledCondition, e: np.ndarray) -> None:
        self.view = view
        self.cond = cond
        self.e = e
        self.te = view.t[e]
        self._last: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def last_index(self, sid: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions of the signal, index into them of its latest sample at each point; -1 none)."""
        got = self._last.get(sid)
        if got is None:
            pos = self.view.positions(sid)
            got = (pos, np.searchsorted(pos, self.e, side="right") - 1)
            self._last[sid] = got
        return got

    def signal(self, sid: int) -> np.ndarray:
        pos, k = self.last_index(sid)
        carried = self.view.state.last_value[self.view.state.slot(sid)]
        if len(pos) == 0:
            return np.full(len(self.e), carried)
        return np.where(k >= 0, self.view.values[pos[np.maximum(k, 0)]], carried)

    def run(self, node: Node) -> np.ndarray:
        if isinstance(node, Num):
            return np.full(len(self.e), node.value)
        if isinstance(node, Signal):
            return self.signal(self.cond.ids[node.name])
        if isinstance(node, Unary):
            x = self.run(node.operand)
            return np.negative(x) if node.op == "-" else (~truth(x)).astype(np.float64)
        if isinstance(node, Binary):
            a = self.run(node.left)
            b = self.run(node.right)
            op = node.op
            if op in _CMP:
                return (_CMP[op](a, b) & ~np.isnan(a) & ~np.isnan(b)).astype(np.float64)
            if op == "and":
                return (truth(a) & truth(b)).astype(np.float64)
            if op == "or":
                return (truth(a) | truth(b)).astype(np.float64)
            if op == "/":
                out = np.full(len(a), np.nan)
                np.divide(a, b, out=out, where=b != 0)
                return out
            return _ARITH[op](a, b)
        return self.call(node)

    def call(self, node: Call) -> np.ndarray:
        f = node.func
        if f == "abs":
            return np.abs(self.run(node.args[0]))
        if f in ("min", "max"):
            args = [self.run(a) for a in node.args]
            fn = np.minimum if f == "min" else np.maximum  # both propagate null
            out = args[0]
            for a in args[1:]:
                out = fn(out, a)
            return out
        arg0 = node.args[0]
        assert isinstance(arg0, Signal)
        sid = self.cond.ids[arg0.name]
        if f == "changed":
            return self.changed(sid)
        if f == "is_null":
            return self.is_null(sid, node.args[1] if len(node.args) > 1 else None)
        arg1 = node.args[1]
        assert isinstance(arg1, Num)
        ref = WindowRef(sid, int(arg1.value) * NS_PER_MS)
        when, _, agg = f.split("_")
        back = 1 if when == "last" else 2
        return self.view.window(ref).lookup(self.te // ref.window_ns - back, agg)

    def changed(self, sid: int) -> np.ndarray:
        pos, k = self.last_index(sid)
        if len(pos) == 0:
            return np.zeros(len(self.e))
        vals = self.view.values[pos]
        prev = np.concatenate(([self.view.state.last_value[self.view.state.slot(sid)]], vals[:-1]))
        differs = vals != prev  # a first sample (previous null) differs
        kc = np.maximum(k, 0)
        return ((k >= 0) & (pos[kc] == self.e) & differs[kc]).astype(np.float64)

    def is_null(self, sid: int, timeout: Node | None) -> np.ndarray:
        pos, k = self.last_index(sid)
        carried = self.view.state.last_t[self.view.state.slot(sid)]
        last_t = (
            np.where(k >= 0, self.view.t[pos[np.maximum(k, 0)]], carried)
            if len(pos)
            else np.full(len(self.e), carried)
        )
        null = last_t < 0
        if timeout is not None:
            assert isinstance(timeout, Num)
            null |= self.te - last_t > int(timeout.value) * NS_PER_MS
        return null.astype(np.float64)


def evaluate(view: BatchView, cond: CompiledCondition) -> tuple[np.ndarray, np.ndarray]:
    """(evaluation point batch indices, condition truth at each), for one batch."""
    e = evaluation_points(view, cond)
    if len(e) == 0:
        return e, np.zeros(0, bool)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return e, truth(_Eval(view, cond, e).run(cond.tree))


__all__ = [
    "BatchView",
    "CompiledCondition",
    "SignalIndex",
    "SignalState",
    "WindowRef",
    "WindowState",
    "compile_condition",
    "evaluate",
    "evaluation_points",
    "truth",
]
