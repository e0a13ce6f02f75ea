"""Paths of the shipped bench files and scenarios."""

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HIL = REPO / "hil"


@pytest.fixture
def hil_dir() -> pathlib.Path:
    return HIL
