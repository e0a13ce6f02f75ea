"""How one cantools signal sits in its frame, reduced to what the native decoder needs.

The layout is plain data (bit position, byte order, sign, float, scaling,
multiplexer selection), so it can be hashed into the catalog and packed into
the C decoder's tables without keeping cantools objects on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from cantools.database.conversion import (
    IdentityConversion,
    LinearConversion,
    LinearIntegerConversion,
    NamedSignalConversion,
)

FLOAT_LENGTHS = (16, 32, 64)


class UnsupportedLayout(ValueError):
    """A signal the native decoder cannot represent; the text says why."""


@dataclass(frozen=True)
class SignalLayout:
    """Bit layout and scaling of one signal, as cantools decodes it."""

    start: int
    length: int
    big_endian: bool
    signed: bool
    is_float: bool
    conversion: str  # "identity" | "int" (integer scale/offset) | "linear" (double scale/offset)
    scale: float | int
    offset: float | int
    choice: bool
    mux_parent: str | None  # name of the selecting multiplexer signal
    mux_ids: tuple[int, ...]

    @property
    def kind(self) -> str:
        """Value kind of the decoded sample: float, int, uint or bool."""
        if self.is_float or self.conversion == "linear":
            return "float"
        if self.conversion == "identity" and not self.signed:
            if self.length == 1 and not self.choice:
                return "bool"
            if self.length == 64:
                return "uint"
        return "int"

    def last_byte(self) -> int:
        """Index of the last payload byte the signal touches."""
        if self.big_endian:
            msb = 8 * (self.start // 8) + 7 - self.start % 8
            return (msb + self.length - 1) // 8
        return (self.start + self.length - 1) // 8

    def canonical(self) -> dict:
        """JSON-ready form for the catalog hash."""
        return {
            "start": self.start,
            "length": self.length,
            "byte_order": "big" if self.big_endian else "little",
            "signed": self.signed,
            "float": self.is_float,
            "conversion": self.conversion,
            "scale": self.scale,
            "offset": self.offset,
            "mux_parent": self.mux_parent,
            "mux_ids": list(self.mux_ids),
        }


def mux_structure(message) -> dict[str, tuple[str | None, tuple[int, ...]]]:
    """Signal name -> (selecting multiplexer, its ids) for every signal cantools decodes.

    Taken from cantools' signal tree (what ``decode`` really walks): a signal
    that is missing there is never decoded by cantools, so it is left out too.
    """
    found: dict[str, tuple[str | None, list[int]]] = {}

    def walk(tree, parent: str | None, mux_id: int | None) -> None:
        for item in tree:
            names = [item] if isinstance(item, str) else list(item)
            for name in names:
                _, ids = found.setdefault(name, (parent, []))
                if mux_id is not None and mux_id not in ids:
                    ids.append(mux_id)
            if isinstance(item, dict):
                for mux_name, branches in item.items():
                    for value, subtree in branches.items():
                        walk(subtree, mux_name, int(value))

    walk(message.signal_tree, None, None)
    return {name: (parent, tuple(sorted(ids))) for name, (parent, ids) in found.items()}


def signal_layout(signal, mux_parent: str | None = None, mux_ids: tuple[int, ...] = ()) -> SignalLayout:
    """Layout of a cantools ``Signal`` selected by ``mux_parent`` = one of ``mux_ids``.

    Raises :class:`UnsupportedLayout`.
    """
    conv = signal.conversion
    choice = bool(conv.choices)
    inner = conv._conversion if isinstance(conv, NamedSignalConversion) else conv
    is_float = bool(conv.is_float)
    if isinstance(inner, IdentityConversion):
        kind, scale, offset = "identity", 1, 0
    elif isinstance(inner, LinearIntegerConversion):
        kind, scale, offset = "int", int(inner.scale), int(inner.offset)
    elif isinstance(inner, LinearConversion):
        kind, scale, offset = "linear", inner.scale, inner.offset
    else:
        raise UnsupportedLayout(f"conversion {type(inner).__name__} is not supported")
    if is_float and signal.length not in FLOAT_LENGTHS:
        raise UnsupportedLayout(f"float signal of {signal.length} bits")
    if not 1 <= signal.length <= 64:
        raise UnsupportedLayout(f"length {signal.length} bits (1..64 supported)")
    if not 0 <= signal.start < 512:
        raise UnsupportedLayout(f"start bit {signal.start} (a frame has at most 512 bits)")
    if kind == "int" and not all(-(2**63) <= v < 2**63 for v in (scale, offset)):
        raise UnsupportedLayout(f"integer scale {scale} / offset {offset} beyond 64 bits")
    if not all(-(2**63) <= v < 2**63 for v in mux_ids):
        raise UnsupportedLayout(f"multiplexer value beyond 64 bits in {mux_ids}")
    return SignalLayout(
        start=signal.start,
        length=signal.length,
        big_endian=signal.byte_order == "big_endian",
        signed=bool(signal.is_signed),
        is_float=is_float,
        conversion=kind,
        scale=scale,
        offset=offset,
        choice=choice,
        mux_parent=mux_parent,
        mux_ids=tuple(mux_ids),
    )


def decode_order(layouts: dict[str, SignalLayout]) -> list[str]:
    """Signal names with every multiplexer before the signals it selects (then by name)."""

    def depth(name: str, seen: frozenset = frozenset()) -> int:
        parent = layouts[name].mux_parent
        if parent is None or parent not in layouts or name in seen:
            return 0
        return depth(parent, seen | {name}) + 1

    return sorted(layouts, key=lambda n: (depth(n), n))


__all__ = ["SignalLayout", "UnsupportedLayout", "decode_order", "mux_structure", "signal_layout"]
