"""The ``can:`` entries of the machine manifest (CanBus)."""

from __future__ import annotations

import pytest

from vehicle_mw.manifest import ManifestError, parse_manifest
from vehicle_mw.manifest.can import CanBus


def test_defaults_and_fields():
    bus = parse_manifest({"name": "pt", "channel": "can0", "databases": ["pt.dbc"]}, CanBus)
    assert (bus.interface, bus.fd, bus.strict, bus.j1939, bus.vss, bus.options) == (
        "socketcan",
        False,
        True,
        False,
        {},
        {},
    )


def test_unknown_key_and_bad_bitrate_name_the_path():
    with pytest.raises(ManifestError) as exc:
        parse_manifest(
            {"name": "pt", "channel": "can0", "bitrate": 0, "speed": 1}, CanBus, file="machine.yaml"
        )
    text = str(exc.value)
    assert "machine.yaml" in text and "bitrate" in text and "speed: unknown key" in text
