"""Fixtures of the secure-update tests (helpers live in update_rig.py)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from update_rig import ProcessHook, Rig


@pytest.fixture
def rig(tmp_path: pathlib.Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


@pytest.fixture
def hook(tmp_path: pathlib.Path) -> Iterator[ProcessHook]:
    h = ProcessHook(tmp_path)
    yield h
    h.shutdown()
