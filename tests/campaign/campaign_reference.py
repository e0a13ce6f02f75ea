"""A straightforward per-sample reference of the campaign semantics (docs/campaigns.md).

Pure Python, one sample at a time, whole trace at once: the way a Python user would write it,
with no numpy on the evaluation path. ``CampaignSet`` must agree with it exactly.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.campaign.document import Campaign, ConditionBased
from vehicle_mw.campaign.expression import Binary, Call, Node, Num, Signal, Unary, parse_expression, walk
from vehicle_mw.signals import values_as_float

NAN = float("nan")
MS = 1_000_000


def truthy(x: float) -> bool:
    return x == x and x != 0


class Stream:
    """Per-sample state of every signal: last value, last time, fixed-window values."""

    def __init__(self, windows: set[tuple[int, int]]):
        self.value: dict[int, float] = {}
        self.time: dict[int, int] = {}
        self.prev_value: float = NAN  # the value the current sample's signal had before it
        self.windows = {w: defaultdict(list) for w in windows}  # (sid, window_ns) -> wid -> values
        self.sid = -1
        self.t = 0

    def push(self, t: int, sid: int, v: float) -> None:
        self.prev_value = self.value.get(sid, NAN)
        self.value[sid] = v
        self.time[sid] = t
        self.sid = sid
        self.t = t
        for (wsid, wns), table in self.windows.items():
            if wsid == sid:
                table[t // wns].append(v)


def evaluate(node: Node, ids: dict[str, int], st: Stream) -> float:
    """Value of the tree at the current sample."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Signal):
        return st.value.get(ids[node.name], NAN)
    if isinstance(node, Unary):
        x = evaluate(node.operand, ids, st)
        return -x if node.op == "-" else (0.0 if truthy(x) else 1.0)
    if isinstance(node, Binary):
        a = evaluate(node.left, ids, st)
        b = evaluate(node.right, ids, st)
        op = node.op
        if op in ("<", "<=", ">", ">=", "==", "!="):
            if a != a or b != b:
                return 0.0
            r = {
                "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b,
            }[op]  # fmt: skip
            return 1.0 if r else 0.0
        if op == "and":
            return 1.0 if truthy(a) and truthy(b) else 0.0
        if op == "or":
            return 1.0 if truthy(a) or truthy(b) else 0.0
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return NAN if b == 0 else a / b
        raise AssertionError(op)
    assert isinstance(node, Call)
    f = node.func
    if f == "abs":
        return abs(evaluate(node.args[0], ids, st))
    if f in ("min", "max"):
        vals = [evaluate(a, ids, st) for a in node.args]
        if any(v != v for v in vals):
            return NAN
        return min(vals) if f == "min" else max(vals)
    sid = ids[node.args[0].name]
    if f == "changed":
        return 1.0 if st.sid == sid and st.value[sid] != st.prev_value else 0.0
    if f == "is_null":
        if sid not in st.time:
            return 1.0
        if len(node.args) > 1:
            return 1.0 if st.t - st.time[sid] > int(node.args[1].value) * MS else 0.0
        return 0.0
    wns = int(node.args[1].value) * MS
    when, _, agg = f.split("_")
    wid = st.t // wns - (1 if when == "last" else 2)
    vals = st.windows[(sid, wns)].get(wid)
    if not vals:
        return NAN
    if agg == "avg":  # within [min, max], exact for a constant window (as the evaluator's)
        if any(v != v for v in vals):
            return NAN
        lo, hi = min(vals), max(vals)
        return lo if lo == hi else min(max(sum(vals) / len(vals), lo), hi)
    if any(v != v for v in vals):
        return NAN
    return min(vals) if agg == "min" else max(vals)


@dataclass
class RefResult:
    triggers: list[int] = field(default_factory=list)
    selected: list[int] = field(default_factory=list)  # sample indices, in stream order
    suppressed: int = 0
    overlaps: int = 0
    evaluations: int = 0


def _prepared(campaign: Campaign, index):
    coll = campaign.collection
    tree = parse_expression(coll.expression, campaign.name) if isinstance(coll, ConditionBased) else None
    ids = {n.name: index.resolve(n.name) for n in walk(tree) if isinstance(n, Signal)} if tree else {}
    windows = set()
    if tree:
        for n in walk(tree):
            if isinstance(n, Call) and n.func.endswith(("_min", "_max", "_avg")) and "window" in n.func:
                windows.add((ids[n.args[0].name], int(n.args[1].value) * MS))
    return tree, ids, windows


def conditions_only(campaigns, index, samples: np.ndarray) -> list[list[int]]:
    """Evaluation times at which each campaign's condition is true (no windows): for the bench."""
    prepared = [_prepared(c, index) for c in campaigns]
    st = Stream(set().union(*(p[2] for p in prepared)))
    by_signal: dict[int, list[int]] = defaultdict(list)
    for k, (_, ids, _) in enumerate(prepared):
        for sid in set(ids.values()):
            by_signal[sid].append(k)
    out: list[list[int]] = [[] for _ in campaigns]
    t_max = -(2**62)
    values = values_as_float(samples).tolist()
    for ts, sid, v in zip(
        samples["timestamp_ns"].tolist(), samples["signal_id"].tolist(), values, strict=True
    ):
        t_max = max(t_max, ts)
        st.push(t_max, sid, v)
        for k in by_signal.get(sid, ()):
            tree, ids, _ = prepared[k]
            if truthy(evaluate(tree, ids, st)):
                out[k].append(t_max)
    return out


class _Collector:
    """One condition campaign's windows, sample by sample (docs/campaigns.md, "Windows")."""

    def __init__(self, c: Campaign, specs: dict, default_ring_samples: int):
        coll = c.collection
        self.pre, self.post = coll.pre_trigger_ms * MS, coll.post_trigger_ms * MS
        ring = default_ring_samples if self.pre > 0 else 1
        self.cap = {sid: s.max_samples for sid, s in specs.items()}
        self.rings = {sid: deque(maxlen=min(s.max_samples or ring, ring)) for sid, s in specs.items()}
        self.end = None  # end of the open window (inclusive)
        self.seq = -1
        self.counts: dict[int, int] = defaultdict(int)

    def emit(self, i: int, sid: int, out: list[int]) -> None:
        cap = self.cap[sid]
        if cap is None or self.counts[sid] < cap:
            self.counts[sid] += 1
            out.append(i)

    def sample(self, i: int, t: int, sid: int, out: list[int]) -> None:
        if self.end is not None and t <= self.end:
            self.emit(i, sid, out)
        self.rings[sid].append((i, t))

    def trigger(self, t: int, result: RefResult, times: list[int], sids: list[int]) -> None:
        before = self.end
        if before is None or t - self.pre > before:
            self.seq += 1
            self.counts.clear()
        else:
            result.overlaps += 1
        pulled = sorted(
            i
            for ring in self.rings.values()
            for i, ts in ring
            if ts >= t - self.pre and (before is None or ts > before)
        )
        for i in pulled:
            self.emit(i, sids[i], result.selected)
        self.end = t + self.post if before is None else max(before, t + self.post)


def reference(
    campaigns, index, samples: np.ndarray, default_ring_samples: int = 1024
) -> dict[str, RefResult]:
    """Every campaign's triggers and selected sample indices (in emission order) over the trace."""
    prepared = [_prepared(c, index) for c in campaigns]
    st = Stream(set().union(*(p[2] for p in prepared)))
    values = values_as_float(samples).tolist()
    sids = samples["signal_id"].tolist()
    times: list[int] = []
    results = {c.name: RefResult() for c in campaigns}
    prev_cond = {c.name: False for c in campaigns}
    last_trig: dict[str, int | None] = {c.name: None for c in campaigns}
    kept: dict[str, list[int]] = {c.name: [] for c in campaigns}  # thinned sample indices
    last_kept: dict[tuple[str, int], int] = {}
    specs = {c.name: {index.resolve(s.name): s for s in c.signals} for c in campaigns}
    collectors = {
        c.name: _Collector(c, specs[c.name], default_ring_samples)
        for c in campaigns
        if isinstance(c.collection, ConditionBased)
    }
    t_max = -(2**62)
    for i, (ts, sid, v) in enumerate(zip(samples["timestamp_ns"].tolist(), sids, values, strict=True)):
        t_max = max(t_max, ts)
        times.append(t_max)
        st.push(t_max, sid, v)
        for c, (tree, ids, _) in zip(campaigns, prepared, strict=True):
            r = results[c.name]
            spec = specs[c.name].get(sid)
            if spec is not None:
                m = spec.min_sampling_interval_ms * MS
                last = last_kept.get((c.name, sid))
                if last is None or t_max - last >= m:
                    kept[c.name].append(i)
                    last_kept[(c.name, sid)] = t_max
                    if tree is not None:
                        collectors[c.name].sample(i, t_max, sid, r.selected)
            if tree is None or sid not in ids.values():
                continue
            r.evaluations += 1
            cond = truthy(evaluate(tree, ids, st))
            fire = cond and not (c.collection.trigger_mode == "rising_edge" and prev_cond[c.name])
            prev_cond[c.name] = cond
            if fire:
                lt = last_trig[c.name]
                if lt is None or t_max - lt >= c.collection.min_trigger_interval_ms * MS:
                    r.triggers.append(t_max)
                    last_trig[c.name] = t_max
                    collectors[c.name].trigger(t_max, r, times, sids)
                else:
                    r.suppressed += 1
    for c in campaigns:
        coll = c.collection
        if isinstance(coll, ConditionBased):
            continue
        r = results[c.name]
        cap = {sid: s.max_samples for sid, s in specs[c.name].items()}
        period = coll.period_ms * MS
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        order: list[int] = []
        for i in kept[c.name]:
            groups[(times[i] // period, sids[i])].append(i)
            if not order or order[-1] != times[i] // period:
                order.append(times[i] // period)
        chosen = set()
        for (_, sid), items in groups.items():
            chosen.update(items[: cap[sid]] if cap[sid] else items)
        r.selected = [i for i in kept[c.name] if i in chosen]
        r.triggers = [(p + 1) * period for p in order[:-1]]
    return results


__all__ = ["RefResult", "conditions_only", "evaluate", "reference", "truthy"]
