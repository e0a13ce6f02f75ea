"""The native batch decoder (``vehicle_mw.signals.Decoder``) on random CAN frame records.

The input is cut into 88-byte ``FRAME_DTYPE`` records (ids, lengths and flags as the fuzzer made
them; the first byte picks the catalog) and decoded with catalogs built from the test DBCs
(multiplexed, extended mux, CAN FD, floats, J1939). Every sample must name a signal of the
catalog, and no frame may yield more samples than the decoder's own bound.
"""

from __future__ import annotations

import numpy as np

from fuzz.harness import ROOT, Input
from vehicle_mw.native import FRAME_DTYPE, FRAME_SIZE
from vehicle_mw.signals import Decoder, load_catalog

DATA = ROOT.parent / "tests" / "data"
DATABASES = (
    ("cantools/multiplex_2.dbc", False),
    ("cantools/issue_184_extended_mux_cascaded.dbc", False),
    ("cantools/motohawk_fd.dbc", False),
    ("cantools/floating_point.dbc", False),
    ("cantools/j1939.dbc", True),
    ("opendbc/toyota_prius_2010_pt.dbc", False),
)
DECODERS = []
for _name, _j1939 in DATABASES:
    _catalog = load_catalog([DATA / _name], strict=False, j1939=_j1939)
    DECODERS.append((Decoder(_catalog), np.array(sorted(s.id for s in _catalog.signals), np.uint32)))
EXPECTED = ()


def one_input(data: bytes) -> None:
    inp = Input(data)
    decoder, ids = DECODERS[inp.byte() % len(DECODERS)]
    body = inp.rest()
    frames = np.frombuffer(body[: len(body) // FRAME_SIZE * FRAME_SIZE], FRAME_DTYPE)
    samples = decoder.decode_array(frames)
    assert len(samples) <= len(frames) * decoder.max_samples_per_frame
    assert np.isin(samples["signal_id"], ids).all(), "a sample names a signal outside the catalog"
