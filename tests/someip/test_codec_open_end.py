"""Arrays and strings with ``length_field_size: 0``: no length field, they take the rest of the
payload (raw-byte payloads), so they are allowed only last; misuse is a CodecError naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from pydantic import TypeAdapter

from tests.someip.conftest import EXAMPLE, ROOT
from vehicle_mw.manifest.someip import TypeRef
from vehicle_mw.someip.codec import CodecError, build_codec

RAW = {"array": "uint8", "length_field_size": 0}


def _typed(ref):
    return TypeAdapter(TypeRef).validate_python(ref)


def test_raw_bytes_payload_round_trips_without_a_length_field():
    codec = build_codec(_typed(RAW), {})
    assert codec.encode([1, 2, 255]) == b"\x01\x02\xff"
    assert codec.decode(b"\x01\x02\xff") == [1, 2, 255]
    assert codec.decode(b"") == []


def test_open_end_array_as_the_last_struct_member():
    ref = _typed({"struct": [{"name": "kind", "type": "uint16"}, {"name": "data", "type": RAW}]})
    codec = build_codec(ref, {})
    value = {"kind": 7, "data": [9, 8, 7]}
    assert codec.encode(value) == b"\x00\x07\x09\x08\x07"
    assert codec.decode(b"\x00\x07\x09\x08\x07") == value


def test_open_end_inside_a_length_delimited_struct_stops_at_its_end():
    inner = {"struct": [{"name": "data", "type": RAW}], "length_field_size": 1}
    ref = _typed({"struct": [{"name": "a", "type": inner}, {"name": "b", "type": "uint8"}]})
    codec = build_codec(ref, {})
    value = {"a": {"data": [1, 2]}, "b": 5}
    assert codec.encode(value) == b"\x02\x01\x02\x05"
    assert codec.decode(b"\x02\x01\x02\x05") == value


def test_open_end_string_and_element_size_checks():
    text = build_codec(_typed({"string": "utf-8", "length_field_size": 0}), {})
    assert text.decode(text.encode("hi")) == "hi"
    u16 = build_codec(_typed({"array": "uint16", "length_field_size": 0}), {})
    with pytest.raises(CodecError, match="needs 2 bytes"):
        u16.decode(b"\x00\x01\x02")  # one byte left that is no uint16


def test_open_end_not_last_is_a_codec_error_naming_the_member():
    ref = _typed({"struct": [{"name": "data", "type": RAW}, {"name": "crc", "type": "uint8"}]})
    with pytest.raises(CodecError, match="'data'.*not the last member"):
        build_codec(ref, {})
    with pytest.raises(CodecError, match="inside an array"):
        build_codec(_typed({"array": RAW, "length": 2}), {})


def test_encoding_errors_are_codec_errors():
    codec = build_codec(_typed({"struct": [{"name": "x", "type": "uint8"}]}), {})
    with pytest.raises(CodecError, match="'x' missing"):
        codec.encode({"y": 1})


def _check(tmp_path, types):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["types"].update(types)
    data["events"].append({"id": 0x8003, "name": "raw", "type": "Raw", "signals": []})
    path = tmp_path / "raw.yaml"
    path.write_text(yaml.safe_dump(data))
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "someip", "check", str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    ), path  # fmt: skip


def test_check_accepts_raw_bytes_last_and_rejects_them_elsewhere(tmp_path):
    ok, _ = _check(
        tmp_path, {"Raw": {"struct": [{"name": "n", "type": "uint8"}, {"name": "d", "type": RAW}]}}
    )
    assert ok.returncode == 0, ok.stderr
    bad, path = _check(
        tmp_path, {"Raw": {"struct": [{"name": "d", "type": RAW}, {"name": "n", "type": "uint8"}]}}
    )
    assert bad.returncode == 2 and str(path) in bad.stderr and "event raw" in bad.stderr, bad.stderr
