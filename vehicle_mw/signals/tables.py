"""Packs a :class:`SignalCatalog` into the native decoder's C tables (``vmw_decode.h``)."""

from __future__ import annotations

from dataclasses import dataclass

from vehicle_mw.native import ffi, lib
from vehicle_mw.signals.catalog import SignalCatalog
from vehicle_mw.signals.layout import SignalLayout


@dataclass
class DecoderTables:
    """cffi arrays ready for ``vmw_decoder_new`` (kept alive by this object)."""

    messages: object
    n_messages: int
    signals: object
    n_signals: int
    mux_ids: object
    n_mux_ids: int


def _signal_flags(layout: SignalLayout) -> int:
    flags = 0
    if layout.big_endian:
        flags |= lib.VMW_DEC_BIG_ENDIAN
    if layout.signed:
        flags |= lib.VMW_DEC_SIGNED
    if layout.is_float:
        flags |= lib.VMW_DEC_FLOAT
    if layout.conversion == "identity":
        flags |= lib.VMW_DEC_IDENTITY
        if not layout.is_float:
            flags |= lib.VMW_DEC_INT_CONV
    elif layout.conversion == "int":
        flags |= lib.VMW_DEC_INT_CONV
    if layout.choice:
        flags |= lib.VMW_DEC_CHOICE
    if layout.kind == "bool":
        flags |= lib.VMW_DEC_BOOL
    return flags


def build_tables(catalog: SignalCatalog) -> DecoderTables:
    """One vmw_dec_message per catalog message, its signals in decode order."""
    n_msgs = len(catalog.messages)
    n_sigs = sum(len(m.signals) for m in catalog.messages)
    mux_all = [i for m in catalog.messages for s in m.signals for i in s.layout.mux_ids]
    msgs = ffi.new("vmw_dec_message[]", max(n_msgs, 1))
    sigs = ffi.new("vmw_dec_signal[]", max(n_sigs, 1))
    mux = ffi.new("int64_t[]", max(len(mux_all), 1))
    si = mi = 0
    for k, m in enumerate(catalog.messages):
        cm = msgs[k]
        cm.can_id = m.frame_id
        cm.bus_id = m.bus_id
        cm.flags = (lib.VMW_DEC_MSG_EXTENDED if m.extended else 0) | (lib.VMW_DEC_MSG_J1939 if m.j1939 else 0)
        cm.min_len = m.length
        cm.first_signal = si
        cm.n_signals = len(m.signals)
        index = {s.signal: i for i, s in enumerate(m.signals)}
        for s in m.signals:
            lay = s.layout
            cs = sigs[si]
            cs.signal_id = s.id
            cs.start = lay.start
            cs.length = lay.length
            cs.flags = _signal_flags(lay)
            cs.scale = float(lay.scale)
            cs.offset = float(lay.offset)
            if lay.conversion == "int":
                cs.iscale = int(lay.scale)
                cs.ioffset = int(lay.offset)
            parent = index.get(lay.mux_parent) if lay.mux_parent else None
            cs.mux_parent = lib.VMW_DEC_NO_PARENT if parent is None else parent
            cs.mux_first = mi
            cs.mux_count = len(lay.mux_ids) if parent is not None else 0
            if parent is not None:
                for v in lay.mux_ids:
                    mux[mi] = v
                    mi += 1
            si += 1
    return DecoderTables(msgs, n_msgs, sigs, n_sigs, mux, mi)


__all__ = ["DecoderTables", "build_tables"]
