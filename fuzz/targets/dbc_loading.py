"""Signal database files (DBC, KCD, SYM, ARXML) through the project's loading and catalog build.

The first byte picks the file format; the rest is the file. Loading, building the signal catalog
and compiling the native decoder's tables must either work or raise ``DatabaseError`` naming the
file (cantools' own exceptions are many and unrelated; the project wraps them).
"""

from __future__ import annotations

from fuzz.harness import Input
from fuzz.targets._scratch import scratch_file
from vehicle_mw.signals import DatabaseError, Decoder, DecoderError, load_catalog
from vehicle_mw.signals.database import SUPPORTED_SUFFIXES

EXPECTED = (DatabaseError, DecoderError)  # DecoderError: the native decoder refuses tables the catalog built


def one_input(data: bytes) -> None:
    inp = Input(data)
    suffix = SUPPORTED_SUFFIXES[inp.byte() % len(SUPPORTED_SUFFIXES)]
    path = scratch_file(inp.rest(), suffix)
    catalog = load_catalog([path], strict=False)
    Decoder(catalog)
