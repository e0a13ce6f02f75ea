"""The package imports, builds its native core and protocol, and its CLI starts."""

import subprocess
import sys

from vehicle_mw.native import FRAME_SIZE, SAMPLE_SIZE, lib
from vehicle_mw.v1 import link_pb2


def test_native_record_sizes_match_header():
    assert (FRAME_SIZE, SAMPLE_SIZE) == (lib.vmw_can_frame_size(), lib.vmw_sample_size()) == (88, 32)


def test_protocol_roundtrip():
    up = link_pb2.Uplink(hello=link_pb2.Hello(vehicle_id="VIN1", protocol_version=1))
    again = link_pb2.Uplink.FromString(up.SerializeToString())
    assert again.WhichOneof("msg") == "hello" and again.hello.vehicle_id == "VIN1"


def test_cli_info_runs():
    out = subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "info"], capture_output=True, text=True, check=True
    )
    assert "native core: frame record 88 B" in out.stdout
