"""Bus/log -> frame ring -> native decode -> sample ring, all through shared-memory rings."""

from __future__ import annotations

import os
import pathlib
import threading
import time

import can
import numpy as np
import pytest

from vehicle_mw.can import frames_from_messages, replay_log
from vehicle_mw.native import FRAME_SIZE, SAMPLE_DTYPE, SAMPLE_SIZE, SlotRing
from vehicle_mw.signals import Decoder, DecoderError, DecoderThread, load_catalog

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "opendbc"


@pytest.fixture
def rings():
    tag = f"{os.getpid()}_{threading.get_ident()}"
    made = []

    def make(kind: str, slot: int, capacity: int) -> SlotRing:
        ring = SlotRing.create(f"/vmw_test_{kind}_{tag}", slot, capacity)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.unlink()
        ring.close()


def _pop_all(ring: SlotRing) -> np.ndarray:
    parts = []
    while len(ring):
        parts.append(np.frombuffer(ring.pop_batch(4096), SAMPLE_DTYPE))
    return np.concatenate(parts) if parts else np.empty(0, SAMPLE_DTYPE)


def test_replay_through_rings_gives_the_same_samples_as_array_decoding(rings):
    catalog = load_catalog(DATA / "toyota_prius_2010_pt.dbc")
    frame_ring = rings("f", FRAME_SIZE, 256)
    sample_ring = rings("s", SAMPLE_SIZE, 1 << 16)
    with DecoderThread(catalog, frame_ring, sample_ring) as worker:
        report = replay_log(DATA / "prius_random.log", frame_ring, speed=0)
        assert report.delivered == report.frames
        # samples are pushed before their frames are released: an empty frame ring means all decoded
        drained = _wait_drained(frame_ring)
    assert drained and not worker.alive and worker.error is None
    assert worker.stats().frames == report.frames
    got = _pop_all(sample_ring)
    expected = Decoder(catalog).decode_array(
        frames_from_messages(can.LogReader(str(DATA / "prius_random.log")))
    )
    cols = ["source_seq", "signal_id", "kind", "flags"]
    for c in cols:
        assert np.array_equal(got[c], expected[c]), c
    assert got["value"].tobytes() == expected["value"].tobytes()


def _wait_drained(ring: SlotRing, timeout: float = 10.0) -> bool:
    """Bounded wait for the decoding thread to empty the frame ring."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ring) == 0:
            return True
        time.sleep(0.005)
    return len(ring) == 0


def test_a_full_sample_ring_holds_frames_back(rings):
    catalog = load_catalog(DATA / "toyota_prius_2010_pt.dbc")
    frames = frames_from_messages(can.LogReader(str(DATA / "prius_random.log")))[:64]
    frame_ring = rings("f2", FRAME_SIZE, 64)
    sample_ring = rings("s2", SAMPLE_SIZE, 64)
    assert frame_ring.push_batch(frames.tobytes()) == 64
    decoder = Decoder(catalog)
    moved, pushed = decoder.decode_ring(frame_ring, sample_ring)
    assert 0 < moved < 64 and pushed <= 64
    assert len(frame_ring) == 64 - moved  # the rest waits, nothing is lost
    received = 0
    while len(frame_ring):
        received += len(_pop_all(sample_ring))
        moved, _ = decoder.decode_ring(frame_ring, sample_ring)
        assert moved > 0
    received += len(_pop_all(sample_ring))
    assert received == decoder.stats().samples == len(Decoder(catalog).decode_array(frames))


def test_rings_of_the_wrong_record_size_are_refused(rings):
    decoder = Decoder(load_catalog(DATA / "toyota_prius_2010_pt.dbc"))
    a = rings("a", SAMPLE_SIZE, 16)
    b = rings("b", SAMPLE_SIZE, 16)
    with pytest.raises(DecoderError, match="88"):
        decoder.decode_ring(a, b)


def test_decoder_thread_stops_promptly_when_idle_and_reports_bad_rings(rings):
    catalog = load_catalog(DATA / "toyota_prius_2010_pt.dbc")
    worker = DecoderThread(catalog, rings("f3", FRAME_SIZE, 16), rings("s3", SAMPLE_SIZE, 16)).start()
    t0 = time.monotonic()
    worker.stop(timeout=5)
    assert not worker.alive and time.monotonic() - t0 < 2.0 and worker.error is None
    bad = DecoderThread(catalog, rings("f4", SAMPLE_SIZE, 16), rings("s4", SAMPLE_SIZE, 16)).start()
    try:
        bad._thread.join(5)
        assert not bad.alive and "88" in str(bad.error)
    finally:
        bad.stop()  # the rings must outlive the thread
