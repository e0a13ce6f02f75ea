"""Decoded SOME/IP events -> ``vmw_sample`` records, and samples -> event payloads.

An event whose type has a fixed size is decoded with one precompiled
``struct.unpack_from`` and its samples packed straight into the batch buffer; other
types go through the general codec. Both give the same records.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from vehicle_mw.manifest.someip import EventDef, FieldDef, SomeIpService
from vehicle_mw.native.records import SAMPLE_DTYPE, SAMPLE_SIZE, VALUE_BOOL, VALUE_F64, VALUE_I64, VALUE_U64
from vehicle_mw.someip.codec import CodecError, PayloadCodec, build_codec, path_getter

_RECORD = {
    VALUE_F64: struct.Struct("<QQIHBBd"),
    VALUE_I64: struct.Struct("<QQIHBBq"),
    VALUE_U64: struct.Struct("<QQIHBBQ"),
    VALUE_BOOL: struct.Struct("<QQIHBBQ"),
}


class SampleSink(Protocol):
    """Where decoded samples go: the sample ring (``vehicle_mw.native.SlotRing``) or anything alike."""

    def push_batch(self, buf: memoryview) -> Any: ...


class SampleCollector:
    """A sink keeping every sample in memory (tests, ``vmw someip consume``)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    def push_batch(self, buf: memoryview) -> int:
        records = np.frombuffer(bytes(buf), SAMPLE_DTYPE)
        with self._lock:
            self._chunks.append(records)
            self.changed.notify_all()
        return len(records)

    def samples(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, SAMPLE_DTYPE)

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate(samples)`` is true (bounded); returns whether it became true."""
        with self._lock:
            return self.changed.wait_for(lambda: predicate(self._concat_locked()), timeout)

    def _concat_locked(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, SAMPLE_DTYPE)


def _kind_of(value: Any) -> int:
    if isinstance(value, bool):
        return VALUE_BOOL
    if isinstance(value, int):
        return VALUE_I64 if value < 0 else VALUE_U64
    return VALUE_F64


def _kind_of_leaf(fmt_char: str) -> int:
    if fmt_char == "?":
        return VALUE_BOOL
    if fmt_char in "fd":
        return VALUE_F64
    return VALUE_I64 if fmt_char.islower() else VALUE_U64


class EventDecoder:
    """Turns one event (or field notifier) payload into sample records."""

    def __init__(self, name: str, codec: PayloadCodec, signals: list[Any], source_id: int):
        self.name, self.codec, self.source_id = name, codec, source_id
        self.fast = None
        if codec.fixed is not None and all(s.path in codec.leaves for s in signals):
            fmt = codec.codec.fmt if codec.codec is not None else ""
            self.fast = codec.fixed
            self.fast_map = [
                (
                    codec.leaves.index(s.path),
                    s.signal_id,
                    _RECORD[_kind_of_leaf(fmt[codec.leaves.index(s.path)])],
                    _kind_of_leaf(fmt[codec.leaves.index(s.path)]),
                )
                for s in signals
            ]
        self.slow_map = [(path_getter(s.path), s.signal_id) for s in signals]

    def write(self, payload: memoryview, ts_ns: int, seq: int, out: bytearray, n: int) -> int:
        """Pack this event's samples into ``out`` at record ``n``; returns the new record count."""
        if self.fast is not None:
            if len(payload) != self.fast.size:
                raise CodecError(
                    f"event {self.name}: payload has {len(payload)} bytes, type needs {self.fast.size}"
                )
            leaves = self.fast.unpack_from(payload)
            for index, signal_id, record, kind in self.fast_map:
                record.pack_into(
                    out, n * SAMPLE_SIZE, ts_ns, seq, signal_id, self.source_id, kind, 0, leaves[index]
                )
                n += 1
            return n
        value = self.codec.decode(payload)
        for getter, signal_id in self.slow_map:
            leaf = getter(value)
            kind = _kind_of(leaf)
            if kind == VALUE_F64:
                leaf = float(leaf)
            _RECORD[kind].pack_into(
                out, n * SAMPLE_SIZE, ts_ns, seq, signal_id, self.source_id, kind, 0, leaf
            )
            n += 1
        return n


def event_decoders(service: SomeIpService) -> dict[int, EventDecoder]:
    """Decoders of every event and field notifier of a service, by event id."""
    out: dict[int, EventDecoder] = {}
    order = service.byte_order
    for event in service.events:
        out[event.id] = EventDecoder(
            event.name, build_codec(event.type, service.types, order), event.signals, service.source_id
        )
    for fld in service.fields:
        if fld.notifier is not None:
            out[fld.notifier] = EventDecoder(
                fld.name, build_codec(fld.type, service.types, order), fld.signals, service.source_id
            )
    return out


def samples_to_values(samples: np.ndarray) -> dict[int, Any]:
    """Latest value per signal id of a sample batch, typed by each record's kind."""
    out: dict[int, Any] = {}
    ints = samples["value"].view("<i8")
    uints = samples["value"].view("<u8")
    for i in range(len(samples)):
        kind = int(samples["kind"][i])
        sid = int(samples["signal_id"][i])
        if kind == VALUE_F64:
            out[sid] = float(samples["value"][i])
        elif kind == VALUE_I64:
            out[sid] = int(ints[i])
        elif kind == VALUE_BOOL:
            out[sid] = bool(uints[i])
        else:
            out[sid] = int(uints[i])
    return out


def _set_path(value: Any, path: str, leaf: Any) -> Any:
    """Return ``value`` with ``path`` set to ``leaf`` (dicts/lists copied on the way down)."""
    if not path:
        return leaf
    import re

    keys = [m.group(1) or int(m.group(2)) for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path)]
    root = value
    node = root
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = leaf
    return root


class EventEncoder:
    """Builds an event payload from samples: each mapped signal sets its member of the value."""

    def __init__(self, definition: EventDef | FieldDef, codec: PayloadCodec, template: Any):
        self.definition, self.codec, self.template = definition, codec, template
        self.by_signal = {s.signal_id: s.path for s in definition.signals}

    def apply(self, current: Any, values: Mapping[int, Any]) -> tuple[Any, bool]:
        """New value with every mapped signal in ``values`` applied; and whether any was."""
        touched = False
        for signal_id, path in self.by_signal.items():
            if signal_id in values:
                current = _set_path(current, path, values[signal_id])
                touched = True
        return current, touched


__all__ = [
    "SampleSink",
    "SampleCollector",
    "EventDecoder",
    "EventEncoder",
    "event_decoders",
    "samples_to_values",
]
