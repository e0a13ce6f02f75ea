"""SOME/IP payload codecs compiled from manifest-described types, decoding arbitrary payloads.

The types cover every codec kind: primitives in both byte orders, strings (UTF-8/UTF-16, fixed and
length-prefixed), fixed and dynamic arrays, nested structs with and without a length field, and the
example service's own types. What decodes must encode again and decode to the same value.
"""

from __future__ import annotations

import math

from fuzz.harness import ROOT, Input
from vehicle_mw.manifest.loading import load_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.someip.codec import CodecError, build_codec

EXPECTED = (CodecError,)

_TYPES = {
    "Point": {"struct": [{"name": "x", "type": "int16"}, {"name": "y", "type": "float64"}]},
    "Named": {
        "struct": [
            {"name": "id", "type": "uint32"},
            {"name": "label", "type": {"string": "utf-16le"}},
            {"name": "points", "type": {"array": "Point", "length_field_size": 2}},
        ],
        "length_field_size": 4,
    },
}
_REFS = (
    "uint64",
    "bool",
    {"string": "utf-8"},
    {"string": "utf-16be", "length": 12},
    {"array": "float32", "length": 3},
    {"array": "Point", "length_field_size": 1},
    {"array": {"array": "uint8", "length_field_size": 1}, "length_field_size": 4},
    {"array": "Named", "length_field_size": 2},
    {"array": {"array": "uint16", "length": 0}, "length_field_size": 1},  # elements of zero bytes
)


def _codecs() -> list:
    from pydantic import TypeAdapter

    from vehicle_mw.manifest.someip import TypeRef

    adapter = TypeAdapter(TypeRef)
    types = {name: adapter.validate_python(ref) for name, ref in _TYPES.items()}
    out = [build_codec(ref, types, order) for ref in _REFS for order in ("big", "little")]
    service = load_manifest(ROOT.parent / "manifests/someip/vehicle_dynamics.yaml", SomeIpService)
    out += [build_codec(name, service.types) for name in sorted(service.types)]
    return out


CODECS = _codecs()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def one_input(data: bytes) -> None:
    inp = Input(data)
    codec = CODECS[inp.byte() % len(CODECS)]
    value = codec.decode(inp.rest())
    try:
        again = codec.decode(codec.encode(value))
    except CodecError:
        return  # e.g. a fixed string whose text plus BOM and terminator no longer fits: refused clearly
    assert _same(value, again), f"{value!r} decodes back as {again!r}"
