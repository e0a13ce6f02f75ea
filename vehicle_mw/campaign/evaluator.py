"""Compile-time side of conditions: signal names resolved to ids, null semantics, window refs.

A condition is evaluated at its *evaluation points*: every sample (in batch order) of a signal the
expression reads, with each signal's value carried forward from its latest sample at or before that
point (null -- NaN -- before its first sample). Time is *stream time*: the running maximum of the
sample timestamps seen so far, so time never goes backwards even when buses interleave. The batch
evaluation itself (one pass over all conditions) is :mod:`vehicle_mw.campaign.batch_eval`.

Null semantics: arithmetic on null is null; ``x / 0`` is null; ``min``/``max``/``abs`` of null are
null; a comparison with a null operand is false (also ``!=``); ``and``/``or``/``not`` read a value
as true when it is non-zero and not null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from vehicle_mw.campaign.errors import ExpressionError
from vehicle_mw.campaign.expression import WINDOW_FUNCTIONS, Call, Node, Num, Signal, walk

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
        return cls.from_entries((s.name, s.id, s.vss) for s in catalog.signals)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, int, str | None]]) -> SignalIndex:
        """(name, id, VSS path or empty) per signal, from whichever catalog form carries them; a
        name several signals share is left out (ambiguous), their VSS paths stay."""
        entries = list(entries)
        ids: dict[str, int] = {}
        counts: dict[str, int] = {}
        for name, sid, _ in entries:
            counts[name] = counts.get(name, 0) + 1
            ids[name] = sid
        for name, n in counts.items():
            if n > 1:
                del ids[name]
        for _, sid, vss in entries:
            if vss:
                ids[vss] = sid
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


WINDOW_STATE_BYTES = 3 * 40  # a (signal, window)'s last three windows: id, count, sum, min, max


__all__ = [
    "NS_PER_MS",
    "WINDOW_STATE_BYTES",
    "CompiledCondition",
    "SignalIndex",
    "WindowRef",
    "compile_condition",
    "truth",
]
