"""``vmw someip check`` / ``schema``: what an integrator runs on a manifest before deploying it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.someip.conftest import EXAMPLE, ROOT


def _vmw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "someip", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_check_lists_the_service():
    out = _vmw("check", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    assert "service 0x1234 instance 0x5678" in out.stdout and "wheel_speeds" in out.stdout


def test_check_names_file_and_field_of_a_bad_manifest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("service_id: 0x1234", "service_id: 0x1FFFF"))
    out = _vmw("check", str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr and "service_id" in out.stderr


def test_schema_is_the_committed_one():
    out = _vmw("schema")
    assert json.loads(out.stdout) == json.loads((ROOT / "manifests/schemas/someip.schema.json").read_text())


@pytest.mark.netns
def test_provide_and_consume_commands_talk_across_namespaces(netns, tmp_path):
    """`vmw someip provide` in one namespace, `vmw someip consume` in the other: the field's
    initial value arrives as a named sample."""
    import os

    from tests.someip.conftest import write_manifest

    manifest = write_manifest(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    vmw = [sys.executable, "-m", "vehicle_mw", "someip"]
    provider = subprocess.Popen(
        [*netns.exec_prefix(netns.ns_a), *vmw, "provide", str(manifest), "--interface", netns.ip_a,
         "--duration", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        out = subprocess.run(
            [*netns.exec_prefix(netns.ns_b), *vmw, "consume", str(manifest), "--interface", netns.ip_b,
             "--duration", "2", "--timeout", "10"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    finally:
        provider.terminate()
        provider.wait(20)
        provider.stderr.close()
    assert out.returncode == 0, out.stderr
    assert "Vehicle.Powertrain.Mode = 2" in out.stdout
    assert "events " in out.stderr and "lost 0" in out.stderr
