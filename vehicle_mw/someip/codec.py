"""Payload codecs built from the manifest's data types (SOME/IP serialization rules).

Rules followed (AUTOSAR PRS SOME/IP): integers and floats in the service's byte
order; ``bool`` as one byte; dynamic arrays and strings prefixed by a length field
counting *bytes*; strings carry a BOM and a terminator; structs are their members
in order, optionally behind a length field. A type whose size never varies gets a
single precompiled :class:`struct.Struct`, which is what the event fast path uses.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.someip import PRIMITIVES, ArrayType, StringType, TypeRef

_FORMATS = {
    "uint8": "B",
    "uint16": "H",
    "uint32": "I",
    "uint64": "Q",
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "float32": "f",
    "float64": "d",
    "bool": "?",
}
_LENGTH_FORMATS = {1: "B", 2: "H", 4: "I"}
_BOMS = {"utf-8": b"\xef\xbb\xbf", "utf-16be": b"\xfe\xff", "utf-16le": b"\xff\xfe"}
_TERMINATORS = {"utf-8": b"\x00", "utf-16be": b"\x00\x00", "utf-16le": b"\x00\x00"}


class CodecError(VehicleMwError):
    """A payload that does not match its declared type (decode) or a value that cannot be sent (encode)."""


class Codec:
    """Encoder/decoder of one type. ``fmt`` is set when the encoding has a fixed size."""

    fmt: str | None = None
    leaves: list[str] = []  # leaf paths in ``fmt`` order (fixed-size types only)
    #: no length field and no fixed size: takes the rest of its payload (or length-delimited struct),
    #: so it can only come last (SOME/IP arrays/strings with length_field_size 0, e.g. raw bytes)
    open_end: bool = False

    def decode(self, buf: bytes | memoryview, off: int) -> tuple[Any, int]:
        raise NotImplementedError

    def encode(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def zero(self) -> Any:
        """The all-zero value of this type (start value of a provider's events)."""
        raise NotImplementedError


class _Primitive(Codec):
    def __init__(self, name: str, order: str):
        self.name = name
        self.fmt = _FORMATS[name]
        self.leaves = [""]
        self._s = struct.Struct(order + self.fmt)

    def decode(self, buf, off):
        end = off + self._s.size
        if end > len(buf):
            raise CodecError(
                f"{self.name} needs {self._s.size} bytes at offset {off}, payload has {len(buf)}"
            )
        return self._s.unpack_from(buf, off)[0], end

    def encode(self, value, out):
        if self.fmt not in "fd?" and isinstance(value, float) and value.is_integer():
            value = int(value)  # decoded CAN signals arrive as floats (physical values)
        elif self.fmt == "?" and isinstance(value, (int, float)):
            value = bool(value)
        try:
            out += self._s.pack(value)
        except struct.error as exc:
            raise CodecError(f"cannot encode {value!r} as {self.name}: {exc}") from None

    def zero(self):
        return False if self.name == "bool" else 0.0 if self.name.startswith("float") else 0


def _read_length(buf, off: int, size: int, order: str) -> tuple[int, int]:
    if off + size > len(buf):
        raise CodecError(
            f"length field of {size} bytes at offset {off} runs past the payload ({len(buf)} bytes)"
        )
    return struct.unpack_from(order + _LENGTH_FORMATS[size], buf, off)[0], off + size


def _check_span(off: int, length: int, buf, what: str) -> int:
    end = off + length
    if end > len(buf):
        raise CodecError(
            f"{what} length field says {length} bytes at offset {off}, payload has {len(buf) - off} left"
        )
    return end


class _String(Codec):
    def __init__(self, spec: StringType, order: str):
        self.enc, self.fixed, self.lf = spec.string, spec.length, spec.length_field_size
        self.order = order
        self.open_end = self.fixed is None and self.lf == 0

    def decode(self, buf, off):
        if self.fixed is not None:
            end = _check_span(off, self.fixed, buf, "fixed string")
            raw = bytes(buf[off:end])
        elif self.open_end:
            end = len(buf)
            raw = bytes(buf[off:end])
        else:
            length, off = _read_length(buf, off, self.lf, self.order)
            end = _check_span(off, length, buf, "string")
            raw = bytes(buf[off:end])
        bom = _BOMS[self.enc]
        if raw.startswith(bom):
            raw = raw[len(bom) :]
        try:
            text = raw.decode(self.enc)
        except UnicodeDecodeError as exc:
            raise CodecError(f"string at offset {off} is not {self.enc}: {exc.reason}") from None
        return text.split("\x00", 1)[0], end

    def encode(self, value, out):
        if not isinstance(value, str):
            raise CodecError(f"expected a string, got {value!r}")
        raw = _BOMS[self.enc] + value.encode(self.enc) + _TERMINATORS[self.enc]
        if self.fixed is not None:
            if len(raw) > self.fixed:
                raise CodecError(f"string {value!r} needs {len(raw)} bytes, fixed length is {self.fixed}")
            out += raw.ljust(self.fixed, b"\x00")
        elif self.open_end:
            out += raw
        else:
            out += struct.pack(self.order + _LENGTH_FORMATS[self.lf], len(raw)) + raw

    def zero(self):
        return ""


class _Array(Codec):
    def __init__(self, element: Codec, spec: ArrayType, order: str):
        self.element, self.count, self.lf, self.order = element, spec.length, spec.length_field_size, order
        if element.open_end:
            raise CodecError(
                "an array's elements cannot end the payload (length_field_size 0 inside an array)"
            )
        self.open_end = self.count is None and self.lf == 0
        if self.count is not None and element.fmt is not None:
            self.fmt = element.fmt * self.count
            self.leaves = [
                f"[{i}]" + (("." + leaf) if leaf and not leaf.startswith("[") else leaf)
                for i in range(self.count)
                for leaf in element.leaves
            ]

    def decode(self, buf, off):
        items = []
        if self.count is not None:
            for _ in range(self.count):
                item, off = self.element.decode(buf, off)
                items.append(item)
            return items, off
        if self.open_end:
            end, length = len(buf), len(buf) - off
        else:
            length, off = _read_length(buf, off, self.lf, self.order)
            end = _check_span(off, length, buf, "array")
        view = memoryview(buf)[:end]
        while off < end:
            item, after = self.element.decode(view, off)
            if after == off:  # zero-byte elements (e.g. a fixed array of length 0) would never end
                raise CodecError(f"array at offset {off}: {length} bytes of elements that take no bytes")
            items.append(item)
            off = after
        return items, end

    def encode(self, value, out):
        items = list(value)
        if self.count is not None:
            if len(items) != self.count:
                raise CodecError(f"fixed array needs {self.count} elements, got {len(items)}")
            for item in items:
                self.element.encode(item, out)
            return
        body = bytearray()
        for item in items:
            self.element.encode(item, body)
        if not self.open_end:
            out += struct.pack(self.order + _LENGTH_FORMATS[self.lf], len(body))
        out += body

    def zero(self):
        return [self.element.zero() for _ in range(self.count or 0)]


class _Struct(Codec):
    def __init__(self, members: list[tuple[str, Codec]], lf: int, order: str):
        self.members, self.lf, self.order = members, lf, order
        for name, codec in members[:-1]:
            if codec.open_end:
                raise CodecError(
                    f"struct member {name!r} has no length field (length_field_size 0) and is not the last "
                    "member: only the last member can take the rest of the payload"
                )
        self.open_end = lf == 0 and bool(members) and members[-1][1].open_end
        if lf == 0 and all(c.fmt is not None for _, c in members):
            self.fmt = "".join(c.fmt for _, c in members)  # type: ignore[misc]
            self.leaves = [
                name + (("." + leaf) if leaf and not leaf.startswith("[") else leaf)
                for name, c in members
                for leaf in c.leaves
            ]

    def decode(self, buf, off):
        end = None
        if self.lf:
            length, off = _read_length(buf, off, self.lf, self.order)
            end = _check_span(off, length, buf, "struct")
            buf = memoryview(buf)[:end]
        value = {}
        for name, codec in self.members:
            value[name], off = codec.decode(buf, off)
        return value, (end if end is not None else off)

    def encode(self, value, out):
        if not isinstance(value, Mapping):
            raise CodecError(f"expected a mapping for a struct, got {value!r}")
        body = bytearray()
        for name, codec in self.members:
            if name not in value:
                raise CodecError(f"struct member {name!r} missing")
            codec.encode(value[name], body)
        if self.lf:
            out += struct.pack(self.order + _LENGTH_FORMATS[self.lf], len(body))
        out += body

    def zero(self):
        return {name: codec.zero() for name, codec in self.members}


class PayloadCodec:
    """Codec of a whole payload; ``decode`` insists the payload is consumed exactly."""

    def __init__(self, codec: Codec | None, order: str):
        self.codec = codec
        self.fixed = struct.Struct(order + codec.fmt) if codec is not None and codec.fmt is not None else None
        self.leaves = codec.leaves if codec is not None else []
        # a flat struct of primitives encodes with one pack() of its members in order
        self._flat = (
            self.fixed is not None
            and isinstance(codec, _Struct)
            and all(leaf.isidentifier() for leaf in self.leaves)
        )

    def decode(self, payload: bytes | memoryview) -> Any:
        if self.codec is None:
            if len(payload):
                raise CodecError(f"expected an empty payload, got {len(payload)} bytes")
            return None
        value, end = self.codec.decode(payload, 0)
        if end != len(payload):
            raise CodecError(f"{len(payload) - end} bytes left over after the payload")
        return value

    def zero(self) -> Any:
        return None if self.codec is None else self.codec.zero()

    def encode(self, value: Any) -> bytes:
        if self._flat:
            try:
                return self.fixed.pack(*[value[name] for name in self.leaves])  # type: ignore[union-attr]
            except (KeyError, TypeError, struct.error):
                pass  # the general path below coerces floats to ints or says what is wrong
        if self.codec is None:
            return b""
        out = bytearray()
        self.codec.encode(value, out)
        return bytes(out)


def build_codec(ref: TypeRef | None, types: Mapping[str, TypeRef], byte_order: str = "big") -> PayloadCodec:
    """Compile a manifest type reference into a :class:`PayloadCodec`."""
    order = ">" if byte_order == "big" else "<"
    if isinstance(ref, dict):  # a type written inline in Python, validated like the manifest's
        from pydantic import TypeAdapter

        ref = TypeAdapter(TypeRef).validate_python(ref)
    return PayloadCodec(None if ref is None else _compile(ref, types, order, ()), order)


def _compile(ref: TypeRef, types: Mapping[str, TypeRef], order: str, seen: tuple[str, ...]) -> Codec:
    if isinstance(ref, str):
        if ref in PRIMITIVES:
            return _Primitive(ref, order)
        if ref == "string":
            return _String(StringType(), order)
        if ref in seen:
            raise CodecError(f"type {ref!r} refers to itself ({' -> '.join(seen + (ref,))})")
        if ref not in types:
            raise CodecError(
                f"unknown type {ref!r}; declare it under 'types' or use one of {list(PRIMITIVES)}"
            )
        return _compile(types[ref], types, order, seen + (ref,))
    if isinstance(ref, StringType):
        return _String(ref, order)
    if isinstance(ref, ArrayType):
        return _Array(_compile(ref.array, types, order, seen), ref, order)
    members = [(m.name, _compile(m.type, types, order, seen)) for m in ref.struct]
    return _Struct(members, ref.length_field_size, order)


_PATH_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def path_getter(path: str) -> Callable[[Any], Any]:
    """A function reading ``path`` ('a.b[2].c', '' = whole value) from a decoded value."""
    keys: list[str | int] = []
    for part in path.split(".") if path else []:
        pos = 0
        for m in _PATH_TOKEN.finditer(part):
            if m.start() != pos:
                raise CodecError(f"bad signal path {path!r}")
            keys.append(m.group(1) if m.group(1) else int(m.group(2)))
            pos = m.end()
        if pos != len(part):
            raise CodecError(f"bad signal path {path!r}")

    def get(value: Any) -> Any:
        for key in keys:
            value = value[key]
        return value

    return get


__all__ = ["Codec", "CodecError", "PayloadCodec", "build_codec", "path_getter"]
