"""Packs a :class:`SignalCatalog` into the native decoder's C tables (``vmw_decode.h``)."""

from __future__ import annotations

from dataclasses import dataclass

from vehicle_mw.native import ffi, lib
from vehicle_mw.signals.catalog import SignalCatalog, j1939_pgn_bits
from vehicle_mw.signals.layout import SignalLayout

# J1939-21 transport protocol: connection management (TP.CM) and data transfer (TP.DT), PDU1 PGNs.
J1939_TP_CM_ID = 0x00EC0000
J1939_TP_DT_ID = 0x00EB0000


@dataclass
class DecoderTables:
    """cffi arrays ready for ``vmw_decoder_new`` (kept alive by this object)."""

    messages: object
    n_messages: int
    signals: object
    n_signals: int
    mux_ids: object
    n_mux_ids: int


def _signal_flags(layout: SignalLayout, from_id: bool = False) -> int:
    flags = lib.VMW_DEC_FROM_ID if from_id else 0
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


def divert_keys(catalog: SignalCatalog) -> list[tuple[int, bool, bool, int]]:
    """(bus, extended, j1939, id) of the frames buses hand to their reassemblers instead of decoding:
    J1939 TP.CM / TP.DT (matched by PGN, any addresses) and both ids of every ISO-TP connection."""
    keys = []
    for bus in catalog.buses:
        if bus.j1939_tp:
            keys += [(bus.bus_id, True, True, J1939_TP_CM_ID), (bus.bus_id, True, True, J1939_TP_DT_ID)]
        for link in bus.isotp:
            keys += [(bus.bus_id, link.extended, False, i) for i in (link.request_id, link.response_id)]
    return keys


def build_tables(catalog: SignalCatalog) -> DecoderTables:
    """One vmw_dec_message per catalog message, its signals in decode order; plus the transport
    frames (:func:`divert_keys`): a message at such an id is flagged VMW_DEC_MSG_DIVERT (frames go to
    the reassembler, reassembled messages decode with it), else a signal-less entry is added."""
    flagged: dict[int, int] = {}  # message index -> divert
    extra = []
    for bus, ext, j1939, can_id in divert_keys(catalog):
        k = next(
            (
                k
                for k, m in enumerate(catalog.messages)
                if m.bus_id == bus
                and (
                    (j1939 and m.j1939 and j1939_pgn_bits(m.frame_id) == j1939_pgn_bits(can_id))
                    or (not j1939 and not m.j1939 and m.extended == ext and m.frame_id == can_id)
                )
            ),
            None,
        )
        if k is None:
            extra.append((bus, ext, j1939, can_id))
        else:
            flagged[k] = 1
    n_msgs = len(catalog.messages) + len(extra)
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
        cm.flags = (
            (lib.VMW_DEC_MSG_EXTENDED if m.extended else 0)
            | (lib.VMW_DEC_MSG_J1939 if m.j1939 else 0)
            | (lib.VMW_DEC_MSG_DIVERT if k in flagged else 0)
        )
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
            cs.flags = _signal_flags(lay, s.from_id)
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
    for k, (bus, ext, j1939, can_id) in enumerate(extra, start=len(catalog.messages)):
        cm = msgs[k]
        cm.can_id = can_id
        cm.bus_id = bus
        cm.flags = (
            (lib.VMW_DEC_MSG_EXTENDED if ext else 0)
            | (lib.VMW_DEC_MSG_J1939 if j1939 else 0)
            | lib.VMW_DEC_MSG_DIVERT
        )
        cm.min_len = 0
        cm.first_signal = si
        cm.n_signals = 0
    return DecoderTables(msgs, n_msgs, sigs, n_sigs, mux, mi)


__all__ = ["J1939_TP_CM_ID", "J1939_TP_DT_ID", "DecoderTables", "build_tables", "divert_keys"]
