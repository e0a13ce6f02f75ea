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
            {"name": "pt", "channel": "can0", "bitrate": 0, "sped": 1}, CanBus, file="machine.yaml"
        )
    text = str(exc.value)
    assert "machine.yaml" in text and "bitrate" in text and "sped: unknown key" in text


def test_max_latency_sets_the_reader_window_and_is_bounded():
    from vehicle_mw.can import BusReader, CollectingSink

    default = parse_manifest({"name": "pt", "channel": "can0"}, CanBus)
    assert default.max_latency_ms == 20.0
    fast = parse_manifest({"name": "pt", "channel": "can0", "max_latency_ms": 2.5}, CanBus)
    assert BusReader(fast, 0, CollectingSink())._max_latency_ns == 2_500_000
    assert BusReader(fast, 0, CollectingSink(), max_latency_s=0.001)._max_latency_ns == 1_000_000
    with pytest.raises(ManifestError) as exc:
        parse_manifest({"name": "pt", "channel": "can0", "max_latency_ms": 0}, CanBus, file="m.yaml")
    assert "max_latency_ms" in str(exc.value)
