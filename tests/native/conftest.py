"""Fixtures for the ring tests: unique segment names that are always unlinked afterwards."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from vehicle_mw.native import lib

_counter = itertools.count()


@pytest.fixture
def ring_name() -> Iterator[str]:
    """A fresh shared-memory name; the segment is unlinked after the test."""
    name = f"vmw_pytest_{os.getpid()}_{next(_counter)}"
    yield name
    lib.vmw_ring_unlink(name.encode())
