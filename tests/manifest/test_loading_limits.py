"""Hostile or broken manifest files give a ManifestError with file, position and reason, never a traceback."""

from __future__ import annotations

import time

import pytest

from vehicle_mw.manifest import ManifestError, load_manifest
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.manifest.loading import MAX_DEPTH, MAX_FILE_BYTES

VALID = b"vehicle_id: car-1\ngrpc_target: localhost:1\n"

BILLION_LAUGHS = b"a: &a ['x','x','x','x','x','x','x','x','x']\n" + b"".join(
    b"%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n" % ((c.encode(),) * 2 + (p.encode(),) * 9)
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

CASES = {
    "not-utf8": (b"vehicle_id: car\n\xff\xfeoops: 1\n", "line 2, column 1", "not UTF-8"),
    "deep-yaml": (b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n", "line 1", f"more than {MAX_DEPTH} levels"),
    "deep-block": (
        b"".join(b"  " * i + b"k:\n" for i in range(200)) + b"  " * 200 + b"v\n",
        "line",
        "levels deep",
    ),
    "deep-json": (b'{"a": ' * 3000 + b"1" + b"}" * 3000, "line 1", "levels deep"),
    "huge-int": (b"vehicle_id: car\nmax_bytes: " + b"7" * 5000 + b"\n", "line 2, column 12", "5000 digits"),
    "int-65-bits": (b"vehicle_id: car\nx: " + str(1 << 70).encode() + b"\n", "line 2", "out of range"),
    "alias-bomb": (BILLION_LAUGHS, "line 1", "aliases are expanded"),
    "binary": (bytes(range(256)) * 4, "", ""),
    "nul-bytes": (b"vehicle_id: car\n\x00\x01\x02", "line 2, column 1", "character #x0000 is not allowed"),
    "empty": (b"", "<top>", "file is empty"),
    "only-comment": (b"# nothing here\n", "<top>", "file is empty"),
    "list-top": (b"- vehicle_id: car\n", "<top>", "must be a mapping"),
    "scalar-top": (b"just a string\n", "<top>", "must be a mapping"),
    "bad-yaml": (b"vehicle_id: [unclosed\n", "line 2", "not valid YAML"),
    "bad-date": (b"vehicle_id: car\nwhen: 2024-13-45\n", "", "not valid YAML"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_file_is_a_manifest_error_naming_file_position_and_reason(tmp_path, name):
    content, where, reason = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    start = time.monotonic()
    with pytest.raises(ManifestError) as exc:
        load_manifest(path, ChannelConfig)
    assert time.monotonic() - start < 10  # an alias bomb must not be expanded
    text = str(exc.value)
    assert text.startswith(f"invalid manifest: {path}: ") and "\n" not in text
    assert where in text and reason in text
    assert len(text) < 400


def test_oversized_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(VALID + b"#" * MAX_FILE_BYTES)
    with pytest.raises(ManifestError, match="larger than 4 MiB"):
        load_manifest(path, ChannelConfig)


def test_folder_and_missing_file_are_named(tmp_path):
    with pytest.raises(ManifestError, match="is a folder"):
        load_manifest(tmp_path, ChannelConfig)
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "nope.yaml", ChannelConfig)


def test_within_the_limits_anchors_json_and_big_ints_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "vehicle_id: &id car-1\ngrpc_target: localhost:1\noutbox: {max_bytes: 17179869184, directory: *id}\n"
    )
    cfg = load_manifest(path, ChannelConfig)
    assert cfg.outbox.max_bytes == 1 << 34 and cfg.outbox.directory == "car-1"
    as_json = tmp_path / "ok.json"
    as_json.write_text('{"vehicle_id": "car-2", "grpc_target": "localhost:1"}')
    assert load_manifest(as_json, ChannelConfig).vehicle_id == "car-2"
