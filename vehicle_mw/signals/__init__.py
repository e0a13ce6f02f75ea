"""Signal databases, the signal catalog and native batch decoding of CAN frames.

What other parts use::

    from vehicle_mw.signals import load_catalog, Decoder

    catalog = load_catalog(machine.can)            # list[CanBus] (bus id = position), or
    catalog = load_catalog("car.dbc", strict=False) # plain paths: one bus, id 0
    catalog.hash                                    # sha256 hex of the canonical catalog (Hello carries it)
    catalog.signals                                 # SignalInfo(id, bus_id, bus, message, signal, unit,
                                                    #            vss, choices, frame_id, extended, layout)
    catalog.rows()                                  # [(id, "Message.Signal", unit, vss, kind, choices)]
    catalog.find("Message.Signal"), catalog.by_id(7), catalog.label(7, raw)

    decoder = Decoder(catalog)                      # one per decoding thread
    samples = decoder.decode_array(frames)          # FRAME_DTYPE array/buffer -> SAMPLE_DTYPE array
    decoder.decode_into(frames, out)                # -> (frames consumed, samples written), no allocation
    decoder.decode_ring(frame_ring, sample_ring, max_frames)  # SlotRing -> SlotRing, all in C
    decoder.stats(), decoder.unknown_ids(), decoder.short_ids()

    with DecoderThread(catalog, frame_ring, sample_ring):  # decode ring to ring in a thread
        ...

Signal ids count from 1 in the order bus id, message name, signal name. A
sample's value is what cantools' ``decode_message(decode_choices=False,
scaling=True)`` gives; its ``kind`` says how to read the 8 value bytes
(:func:`sample_values`, :func:`values_as_float`). Enumerated signals carry
``VMW_SAMPLE_CHOICE`` and their labels come from ``catalog.label``.
"""

from vehicle_mw.signals.catalog import BusDatabases, MessageEntry, SignalCatalog, SignalInfo, load_catalog
from vehicle_mw.signals.database import load_database
from vehicle_mw.signals.decoder import Decoder, DecodeStats, sample_values, values_as_float
from vehicle_mw.signals.errors import DatabaseError, DecoderError
from vehicle_mw.signals.layout import SignalLayout
from vehicle_mw.signals.worker import DecoderThread

__all__ = [
    "BusDatabases",
    "DatabaseError",
    "DecodeStats",
    "Decoder",
    "DecoderError",
    "DecoderThread",
    "MessageEntry",
    "SignalCatalog",
    "SignalInfo",
    "SignalLayout",
    "load_catalog",
    "load_database",
    "sample_values",
    "values_as_float",
]
