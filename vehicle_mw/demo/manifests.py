"""The demo's deployment as manifests: what an integrator would write for a replayed vehicle.

``vmw demo`` writes ``machine.yaml`` (one replay bus on the shipped trace, looping) and
``channel.yaml`` (the local gateway, mutual TLS with the demo PKI, reached through the demo's
link-impairment proxies) into its workdir and builds the runtime from them, so the files in the
workdir are a working starting point for a real deployment (swap the bus for ``socketcan``).
"""

from __future__ import annotations

import pathlib
from typing import Any

from vehicle_mw.runtime.manifest_writer import write_manifest

DATA = pathlib.Path(__file__).resolve().parent / "data"
TRACE = DATA / "gnss_drive.log"
DBC = DATA / "gnss.dbc"
VEHICLE_ID = "VMWDEMO0000000001"
VSS = {
    "gnss_speed.Speed": "Vehicle.Speed",
    "gnss_pos.Latitude": "Vehicle.CurrentLocation.Latitude",
    "gnss_pos.Longitude": "Vehicle.CurrentLocation.Longitude",
}


def machine_manifest(deployment: str, speed: float) -> dict[str, Any]:
    return {
        "name": deployment,
        "function_groups": [{"name": "Telematics", "states": ["Off", "Driving"], "initial": "Driving"}],
        "can": [
            {
                "name": "gnss",
                "interface": "replay",
                "file": str(TRACE),
                "speed": speed,
                "loop": True,
                "databases": [str(DBC)],
                "vss": VSS,
            }
        ],
        "runtime": {"deployment": deployment, "channel": "channel.yaml", "state_dir": "state"},
    }


def channel_manifest(grpc_target: str, websocket_url: str, tls: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "vehicle_id": VEHICLE_ID,
        "software_version": "vmw-demo",
        "grpc_target": grpc_target,
        "websocket_url": websocket_url,
        "outbox": {"directory": "outbox", "fsync": "batch"},
        "status_interval_s": 1.0,
    }
    if tls:
        doc["tls"] = {
            "ca_file": "pki/vmw-ca.crt",
            "cert_file": f"pki/{VEHICLE_ID}.crt",
            "key_file": f"pki/{VEHICLE_ID}.key",
            "server_name": "localhost",
        }
    return doc


def write(path: pathlib.Path, doc: dict[str, Any], what: str) -> pathlib.Path:
    """A manifest of the demo's deployment (the runtime's writer, with the demo's header)."""
    return write_manifest(path, doc, what, written_by="`vmw demo`", docs="docs/demo.md, docs/deployment.md")


__all__ = ["DBC", "TRACE", "VEHICLE_ID", "channel_manifest", "machine_manifest", "write"]
