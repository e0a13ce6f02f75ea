"""Manifest files (machine, channel, execution, SOME/IP, gateway, HIL bench and scenario).

The first byte picks the manifest model; the rest is the file's bytes, loaded by
``vehicle_mw.manifest.loading.load_manifest`` as ``vmw`` does. Every bad file must be a
``ManifestError`` naming the file.
"""

from __future__ import annotations

from fuzz.harness import Input
from fuzz.targets._scratch import scratch_file
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.manifest.execution import ExecutionManifest
from vehicle_mw.manifest.gateway import GatewayConfig
from vehicle_mw.manifest.hil import BenchConfig, ScenarioConfig
from vehicle_mw.manifest.loading import ManifestError, load_manifest
from vehicle_mw.manifest.machine import MachineManifest
from vehicle_mw.manifest.someip import SomeIpService

MODELS = (
    MachineManifest,
    ChannelConfig,
    ExecutionManifest,
    SomeIpService,
    GatewayConfig,
    BenchConfig,
    ScenarioConfig,
)
EXPECTED = (ManifestError,)


def one_input(data: bytes) -> None:
    inp = Input(data)
    model = MODELS[inp.byte() % len(MODELS)]
    load_manifest(scratch_file(inp.rest(), ".yaml"), model)
