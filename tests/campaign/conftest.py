"""Fixtures of the campaign tests: the demo trace decoded once, with its signal index."""

from __future__ import annotations

import pytest
from campaign_helpers import DEMO_DBC, DEMO_LOG, decode_trace

from vehicle_mw.campaign import SignalIndex


@pytest.fixture(scope="session")
def demo():
    """(catalog, samples, index) of the demo's real GNSS/IMU drive."""
    catalog, samples = decode_trace(DEMO_LOG, DEMO_DBC)
    return catalog, samples, SignalIndex.from_catalog(catalog)
