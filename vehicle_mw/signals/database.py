"""Loading signal databases (DBC, ARXML, KCD, SYM) with cantools, with errors that name the file."""

from __future__ import annotations

import pathlib
import re

import cantools

from vehicle_mw.signals.errors import DatabaseError

SUPPORTED_SUFFIXES = (".dbc", ".arxml", ".kcd", ".sym")
# A SYM message may name a range of frame ids; cantools builds one Message per id, so a range of
# millions (a typo, or a hostile file) takes minutes and gigabytes before anything can be refused.
MAX_SYM_ID_RANGE = 4096
_SYM_ID_RANGE = re.compile(  # either end may be negative: cantools reads "-22h" too
    rb"\bID\s*=\s*(-?\s*[0-9A-Fa-f]+)h\s*-\s*(-?\s*[0-9A-Fa-f]+)h"
)


def load_database(path: str | pathlib.Path, *, strict: bool = True) -> cantools.database.can.Database:
    """Load one CAN database; any cantools failure becomes a :class:`DatabaseError` naming the file.

    ``strict`` is cantools' own flag: strict loading rejects overlapping or
    out-of-frame signals, non-strict keeps them.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatabaseError(f"{path}: signal database not found")
    if path.suffix.lower() == ".sym":
        _check_sym_id_ranges(path)
    elif path.suffix.lower() == ".dbc":
        _check_dbc_signal_bits(path)
    try:
        db = cantools.database.load_file(str(path), strict=strict)
    except Exception as exc:  # cantools raises many unrelated types for bad input
        reason = str(exc).strip() or type(exc).__name__
        hint = "" if not strict else " (strict=False may accept it)"
        raise DatabaseError(f"{path}: cantools cannot load it: {type(exc).__name__}: {reason}{hint}") from exc
    if not isinstance(db, cantools.database.can.Database):
        raise DatabaseError(f"{path}: not a CAN database (cantools loaded a {type(db).__name__})")
    _check_names(db, path)
    return db


def _read(path: pathlib.Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot read: {exc.strerror}") from None


def _check_sym_id_ranges(path: pathlib.Path) -> None:
    raw = _read(path)
    for m in _SYM_ID_RANGE.finditer(raw):
        low, high = (int(g.replace(b" ", b"").replace(b"\t", b""), 16) for g in m.groups())
        if high - low >= MAX_SYM_ID_RANGE:
            line = raw.count(b"\n", 0, m.start()) + 1
            raise DatabaseError(
                f"{path}: line {line}: frame id range {low:#x}-{high:#x} spans {high - low + 1} ids "
                f"(at most {MAX_SYM_ID_RANGE})"
            )


# A DBC signal's "start|length": cantools (non-strict) allocates per bit, so a length of 10^9 bits
# takes gigabytes before anything can be refused. The largest message a DBC describes is a J1939
# transport-protocol one (1,785 bytes; e.g. canmatrix's j1939.dbc has a 1,600-bit text signal).
MAX_FRAME_BITS = 1785 * 8
_DBC_SIGNAL_BITS = re.compile(rb"^[ \t]*SG_[ \t]+(\S+)[^:\n]*:[ \t]*(\d+)[ \t]*\|[ \t]*(\d+)[ \t]*@", re.M)


def _check_dbc_signal_bits(path: pathlib.Path) -> None:
    raw = _read(path)
    for m in _DBC_SIGNAL_BITS.finditer(raw):
        start, length = int(m.group(2)), int(m.group(3))
        if start >= MAX_FRAME_BITS or length > MAX_FRAME_BITS:
            line = raw.count(b"\n", 0, m.start()) + 1
            name = m.group(1).decode(errors="replace")
            raise DatabaseError(
                f"{path}: line {line}: signal {name} at bit {start}, {length} bits long, does not fit a "
                f"CAN message ({MAX_FRAME_BITS} bits at most, J1939 transport included)"
            )


def _check_names(db: cantools.database.can.Database, path: pathlib.Path) -> None:
    """Messages and signals are looked up by name; cantools leaves a missing one (KCD, ARXML) as None."""
    for msg in db.messages:
        if not isinstance(msg.name, str) or not msg.name:
            raise DatabaseError(f"{path}: message with frame id {msg.frame_id:#x} has no name")
        for sig in msg.signals:
            if not isinstance(sig.name, str) or not sig.name:
                raise DatabaseError(f"{path}: a signal of message {msg.name} has no name")


__all__ = ["SUPPORTED_SUFFIXES", "load_database"]
