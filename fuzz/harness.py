"""What every fuzz target shares: the target list, loading one, and judging one input."""

from __future__ import annotations

import importlib
import pathlib
from types import ModuleType

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
REGRESSIONS = ROOT / "regressions"
FINDINGS = ROOT / "findings"

TARGETS = (
    "gateway_uplink",
    "link_messages",
    "tokens",
    "someip_wire",
    "someip_sd",
    "someip_codec",
    "manifests",
    "dbc_loading",
    "outbox_segment",
    "ring_header",
    "can_logs",
    "frame_decoder",
)


SELFTEST = "selftest"  # plants a crash and a hang, for the runner's own test; not in TARGETS


def load_target(name: str) -> ModuleType:
    """The target module ``fuzz.targets.<name>`` (it defines ``EXPECTED`` and ``one_input``)."""
    if name not in TARGETS and name != SELFTEST:
        raise SystemExit(f"unknown fuzz target {name!r}; known: {', '.join(TARGETS)}")
    return importlib.import_module(f"fuzz.targets.{name}")


def judge(target: ModuleType, data: bytes) -> str:
    """Run one input: 'ok' or 'expected: <Error>'; any other exception propagates (a finding)."""
    try:
        target.one_input(data)
    except target.EXPECTED as exc:
        return f"expected: {type(exc).__name__}"
    return "ok"


class Input:
    """Reads typed values off the front of fuzzer bytes (a tiny FuzzedDataProvider without atheris,
    so regression tests replay inputs exactly as the fuzzer ran them)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


__all__ = ["CORPUS", "FINDINGS", "REGRESSIONS", "TARGETS", "Input", "judge", "load_target"]
