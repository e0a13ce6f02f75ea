"""The uplink stage's rings -> outbox step: one batch per window across rings, nothing lost on failure.

The stage is built from manifests but never started (no link): ``_drain_once`` is the step its drain
thread repeats every ``outbox.linger_ms``.
"""

from __future__ import annotations

import numpy as np
import pytest
from runtime_rig import GNSS_DBC, GNSS_TRACE, shm_segments, write_manifests

from vehicle_mw.native import SAMPLE_DTYPE
from vehicle_mw.runtime.deployment import load_deployment
from vehicle_mw.runtime.rings import RingPlan
from vehicle_mw.runtime.stage_uplink import UplinkStage
from vehicle_mw.v1 import link_pb2


class _NoGateway:
    grpc_target = "127.0.0.1:9"
    ws_url = "ws://127.0.0.1:9/v1/link"


def _samples(source: int, n: int) -> np.ndarray:
    s = np.zeros(n, SAMPLE_DTYPE)
    s["source_id"] = source
    s["source_seq"] = np.arange(n)
    s["signal_id"] = 1
    return s


@pytest.fixture
def stage(tmp_path):
    bus = {"interface": "replay", "file": str(GNSS_TRACE), "databases": [str(GNSS_DBC)]}
    machine, channel = write_manifests(
        tmp_path, _NoGateway(), [dict(bus, name="a"), dict(bus, name="b")], deployment="t-drain"
    )
    dep = load_deployment(machine, channel)
    plan = RingPlan.of(dep)
    st = UplinkStage(dep, plan, link_pb2.Catalog())
    yield st
    st.outbox.close()
    for ring in st.rings:
        ring.close()
    plan.unlink_all()
    assert shm_segments("t-drain") == []


def test_one_append_takes_every_ring(stage):
    a, b = stage.rings
    assert a.push_batch(_samples(0, 30).tobytes()) == 30
    assert b.push_batch(_samples(1, 20).tobytes()) == 20
    assert stage._drain_once() == 50
    stage.outbox.sync()
    batches = stage.outbox.pending(0, 10)
    assert len(batches) == 1  # both rings in one batch, not one batch per ring
    assert sorted(np.unique(batches[0].samples["source_id"]).tolist()) == [0, 1]
    assert len(a) == 0 and len(b) == 0  # released once stored
    assert stage._drain_once() == 0


def test_a_failing_append_leaves_every_record_in_its_ring(stage, monkeypatch):
    a, b = stage.rings
    a.push_batch(_samples(0, 5).tobytes())
    b.push_batch(_samples(1, 7).tobytes())

    def broken(samples):
        raise OSError("disk full")

    monkeypatch.setattr(stage.outbox, "append_new", broken)
    with pytest.raises(OSError):
        stage._drain_once()
    assert (len(a), len(b)) == (5, 7)
    monkeypatch.undo()
    assert stage._drain_once() == 12
