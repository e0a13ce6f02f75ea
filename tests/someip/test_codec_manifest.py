"""Manifest validation and the payload codecs it builds (SOME/IP serialization rules)."""

from __future__ import annotations

import json
import pathlib
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.someip.conftest import EXAMPLE, ROOT
from vehicle_mw.manifest import ManifestError, load_manifest, parse_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.someip.codec import CodecError, build_codec, path_getter

SCHEMA = ROOT / "manifests" / "schemas" / "someip.schema.json"


@pytest.fixture(scope="module")
def service() -> SomeIpService:
    return load_manifest(EXAMPLE, SomeIpService)


def test_committed_schema_is_the_generated_one():
    assert json.loads(SCHEMA.read_text()) == SomeIpService.model_json_schema()


def test_example_manifest_loads(service):
    assert (service.service_id, service.instance_id, service.sd.ttl) == (0x1234, 0x5678, 3)
    assert {e.name for e in service.events} == {"wheel_speeds", "status"}
    assert service.fields[0].getter == 0x10


def _bad(tmp_path: pathlib.Path, mutate) -> str:
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError) as exc:
        load_manifest(path, SomeIpService)
    assert str(path) in str(exc.value)
    return str(exc.value)


def test_manifest_errors_name_the_problem(tmp_path):
    assert "events[0].id" in _bad(tmp_path, lambda d: d["events"][0].update(id=0x10))
    assert "unknown key" in _bad(tmp_path, lambda d: d.update(colour="red"))
    assert "unknown events" in _bad(tmp_path, lambda d: d["eventgroups"][0]["events"].append(0x8100))
    assert "duplicate method ids" in _bad(tmp_path, lambda d: d["fields"][0].update(getter=1))
    many = [{"path": "fl", "signal_id": 5000 + i} for i in range(257)]
    assert "at most 256" in _bad(tmp_path, lambda d: d["events"][0].update(signals=many))
    assert "duplicate signal ids" in _bad(
        tmp_path, lambda d: d["events"][1]["signals"][0].update(signal_id=1001)
    )


def test_primitives_big_and_little_endian():
    for order, fmt in (("big", ">"), ("little", "<")):
        codec = build_codec(
            {
                "struct": [
                    {"name": "a", "type": "uint16"},
                    {"name": "b", "type": "int64"},
                    {"name": "c", "type": "float64"},
                    {"name": "d", "type": "bool"},
                ]
            },
            {},
            order,
        )
        raw = codec.encode({"a": 513, "b": -2, "c": 0.5, "d": True})
        assert raw == struct.pack(fmt + "Hqd?", 513, -2, 0.5, True)
        assert codec.decode(raw) == {"a": 513, "b": -2, "c": 0.5, "d": True}


def _typed(ref):
    return parse_manifest(
        {
            "name": "x",
            "service_id": 1,
            "instance_id": 1,
            "endpoint": {"port": 1},
            "consumer_endpoint": {"port": 2},
            "types": {"T": ref},
        },
        SomeIpService,
    ).types["T"]


def test_dynamic_string_has_length_bom_and_terminator():
    codec = build_codec("string", {})
    assert codec.encode("Hi") == struct.pack(">I", 6) + b"\xef\xbb\xbfHi\x00"
    assert codec.decode(codec.encode("Grüße")) == "Grüße"
    utf16 = build_codec(_typed({"string": "utf-16le", "length_field_size": 2}), {})
    assert utf16.encode("A") == struct.pack(">H", 6) + b"\xff\xfeA\x00\x00\x00"
    fixed = build_codec(_typed({"string": "utf-8", "length": 8}), {})
    assert fixed.encode("ab") == b"\xef\xbb\xbfab\x00\x00\x00" and fixed.decode(fixed.encode("ab")) == "ab"


def test_arrays_fixed_and_dynamic_with_length_fields():
    fixed = build_codec(_typed({"array": "uint8", "length": 3}), {})
    assert fixed.encode([1, 2, 3]) == b"\x01\x02\x03" and fixed.fixed is not None
    dyn = build_codec(_typed({"array": "uint16", "length_field_size": 1}), {})
    assert dyn.encode([1, 2]) == b"\x04\x00\x01\x00\x02"  # length field counts bytes
    assert dyn.decode(b"\x04\x00\x01\x00\x02") == [1, 2]
    nested = build_codec(
        _typed({"array": {"array": "int8", "length_field_size": 1}, "length_field_size": 2}), {}
    )
    assert nested.decode(nested.encode([[1], [], [-1, -2]])) == [[1], [], [-1, -2]]


def test_flat_struct_fast_encode_matches_the_general_path(service):
    wheels = build_codec("WheelSpeeds", service.types)
    value = {"fl": 1.5, "fr": -2.0, "rl": 0.0, "rr": 7.25}
    general = bytearray()
    wheels.codec.encode(value, general)
    assert wheels.encode(value) == bytes(general) == struct.pack(">ffff", 1.5, -2.0, 0.0, 7.25)
    counter = build_codec(_typed({"struct": [{"name": "n", "type": "uint8"}]}), {})
    assert counter.encode({"n": 3.0}) == b"\x03"  # integral float coerced on the general path
    with pytest.raises(CodecError, match="member 'n' missing"):
        counter.encode({})


def test_struct_with_length_field_and_named_types(service):
    codec = build_codec(_typed({"struct": [{"name": "x", "type": "uint8"}], "length_field_size": 4}), {})
    assert codec.encode({"x": 9}) == b"\x00\x00\x00\x01\x09"
    status = build_codec("Status", service.types)
    value = {"gear": 3, "brake": False, "odometer": 7, "vin": "V", "temps": [1]}
    assert status.decode(status.encode(value)) == value
    wheels = build_codec("WheelSpeeds", service.types)
    assert wheels.leaves == ["fl", "fr", "rl", "rr"] and wheels.fixed.format == ">ffff"


@pytest.mark.parametrize(
    "ref,payload,reason",
    [
        ("uint32", b"\x00\x01", "needs 4 bytes"),
        ("string", struct.pack(">I", 10) + b"ab", "length field says 10"),
        ({"array": "uint8", "length_field_size": 4}, b"\x00\x00", "runs past"),
        ("uint8", b"\x01\x02", "left over"),
    ],
)
def test_decode_errors_say_what_is_wrong(ref, payload, reason):
    codec = build_codec(_typed(ref) if isinstance(ref, dict) else ref, {})
    with pytest.raises(CodecError, match=reason):
        codec.decode(payload)


def test_unknown_and_recursive_types_are_rejected():
    with pytest.raises(CodecError, match="unknown type 'Nope'"):
        build_codec("Nope", {})
    with pytest.raises(CodecError, match="refers to itself"):
        build_codec("A", {"A": "B", "B": "A"})


def test_path_getter():
    value = {"wheels": [{"speed": 1}, {"speed": 2}]}
    assert path_getter("wheels[1].speed")(value) == 2 and path_getter("")(5) == 5
    with pytest.raises(CodecError):
        path_getter("wheels[x]")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), st.text(max_size=8), st.booleans()), max_size=5))
def test_roundtrip_property(items):
    ref = _typed(
        {
            "array": {
                "struct": [
                    {"name": "i", "type": "int32"},
                    {"name": "s", "type": "string"},
                    {"name": "b", "type": "bool"},
                ]
            },
            "length_field_size": 4,
        }
    )
    codec = build_codec(ref, {})
    value = [{"i": i, "s": s.replace("\x00", ""), "b": b} for i, s, b in items]
    assert codec.decode(codec.encode(value)) == value


def test_vehicle_mw_imports_without_someipy_and_someip_names_the_extra():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'someipy' or name.startswith('someipy.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import vehicle_mw, vehicle_mw.manifest.someip\n"
        "try:\n"
        "    import vehicle_mw.someip\n"
        "except vehicle_mw.errors.VehicleMwError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "vehicle_mw[someip]" in out.stdout
