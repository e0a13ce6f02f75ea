"""The runtime's manifest writer: what demo and HIL write their deployments with."""

from __future__ import annotations

import yaml

from vehicle_mw.demo import manifests as demo
from vehicle_mw.manifest.loading import load_manifest
from vehicle_mw.manifest.machine import MachineManifest
from vehicle_mw.runtime.manifest_writer import write_manifest


def test_written_manifest_keeps_key_order_and_says_who_wrote_it(tmp_path):
    doc = {"name": "ecu", "function_groups": [], "can": [], "runtime": {"deployment": "d"}}
    path = write_manifest(tmp_path / "machine.yaml", doc, "machine manifest", written_by="`tool`")
    text = path.read_text()
    assert text.splitlines()[0] == "# machine manifest, written by `tool` (docs/deployment.md)"
    assert yaml.safe_load(text) == doc and list(yaml.safe_load(text)) == list(doc)


def test_demo_writer_output_is_unchanged_by_the_move(tmp_path):
    doc = demo.machine_manifest("demo-x", 2.0)
    path = demo.write(tmp_path / "machine.yaml", doc, "machine manifest")
    # what demo/manifests.py wrote before the writer moved to the runtime
    before = (
        "# machine manifest, written by `vmw demo` (docs/demo.md, docs/deployment.md)\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    assert path.read_text() == before
    assert load_manifest(path, MachineManifest).can[0].name == "gnss"  # and the runtime reads it
