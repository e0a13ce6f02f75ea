"""A field's initial value goes to a new subscriber once, not after every renewal, with the
service's interface version (vsomeip renews at every cyclic offer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.someip.conftest import PEER, ROOT, write_manifest

pytestmark = pytest.mark.netns


def test_field_initial_value_once_per_subscription_with_the_service_version(peers, tmp_path, netns):
    manifest = write_manifest(tmp_path, major_version=3)
    provider = peers("provide", manifest, "a")
    out = subprocess.run(
        [*netns.exec_prefix(netns.ns_b), sys.executable, str(PEER.with_name("raw_subscriber.py")),
         netns.ip_b, netns.ip_a, "2", "3", "5", "0.3"],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["acks"] == 5, got  # every renewal acknowledged
    assert got["notifications"] == [[0x8010, 3]], got  # the initial value once, interface version 3
    provider.cmd("set_field", field="mode", value=4)  # a provider that still works
