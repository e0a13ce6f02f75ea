"""Every saved fuzz finding and issue #12 parser item, replayed through its target's one-input function.

Inputs live in fuzz/regressions/<target>/<name>; each must now be handled: refused with the
target's clear error type, or accepted. Targets with native code (rings, the frame decoder) are
replayed in a subprocess so a crash fails one test instead of ending the run. An entry with an
``xfail`` reason is a finding in another area still being fixed (listed in fuzz/known.py too).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from fuzz.harness import REGRESSIONS, judge, load_target  # noqa: E402

NATIVE_TARGETS = {"ring_header", "frame_decoder"}

# (target, file) -> the outcome it must have now
OUTCOMES = {
    # issue #12: token claims parsing (fixed in the gateway, b38b71a)
    ("tokens", "inf-expiry"): "expected: TokenError",
    ("tokens", "huge-exponent-expiry"): "expected: TokenError",
    ("tokens", "nan-issued-at"): "expected: TokenError",
    ("tokens", "5000-digit-expiry"): "expected: TokenError",
    ("tokens", "deeply-nested-json"): "expected: TokenError",
    ("tokens", "deeply-nested-json-text"): "expected: TokenError",
    # issue #12: manifest loading (fixed in the manifest loader, 240c0f4)
    ("manifests", "non-utf8"): "expected: ManifestError",
    ("manifests", "deeply-nested-flow"): "expected: ManifestError",
    ("manifests", "deeply-nested-mappings"): "expected: ManifestError",
    ("manifests", "5000-digit-port"): "expected: ManifestError",
    ("manifests", "5000-digit-hex"): "expected: ManifestError",
    ("manifests", "nan-limit"): "expected: ManifestError",
    ("manifests", "recursive-alias"): "expected: ManifestError",  # hung before (replayed in a subprocess)
    # issue #12: NaN and extreme integers in a batch decode to samples, no exception
    ("gateway_uplink", "nan-and-extreme-ints-batch"): "ok",
    # a value kind outside the ValueKind enum (300 wrapped to 44 in the record) is refused, naming the field
    ("gateway_uplink", "kind-out-of-range"): "expected: ProtocolError",
    ("link_messages", "kind-300-in-sample-columns"): "expected: ProtocolError",
    # fuzz findings fixed here: KCD without names crashed the catalog (TypeError in sorted)
    ("dbc_loading", "kcd-message-without-name"): "expected: DatabaseError",
    ("dbc_loading", "kcd-signal-without-name"): "expected: DatabaseError",
    # fuzz finding fixed here: a SYM frame id range of 16 M ids made cantools build 16 M messages (a hang)
    ("dbc_loading", "sym-id-range-of-16m-ids"): "expected: DatabaseError",
    # ... and a range from a negative id (-22h-600000023h) slipped past that check (a hang again)
    ("dbc_loading", "negative-sym-id-range"): "expected: DatabaseError",
    # fuzz finding fixed here: a DBC signal 1,111,111,116 bits long made cantools allocate > 2 GB
    ("dbc_loading", "signal-of-a-billion-bits"): "expected: DatabaseError",
    # fuzz finding fixed here: an integer DBC factor beyond 64 bits raised OverflowError building the
    # decoder's tables; such a signal is now an unsupported layout (skipped, logged), the others decode
    ("dbc_loading", "int-scale-beyond-64-bits"): "ok",
    # fuzz finding fixed here: a DBC message of length -8 (cantools takes it) raised OverflowError
    # building the decoder's tables; such a message is now skipped with a warning naming it
    ("dbc_loading", "negative-message-length"): "ok",
    # fuzz finding fixed here: a SYM message with frame id -153 raised OverflowError the same way
    ("dbc_loading", "negative-frame-id"): "ok",
    # fuzz finding fixed here: a candump timestamp of 1e79153 s (inf) raised OverflowError mid-replay
    ("can_logs", "infinite-timestamp"): "expected: ReplayError",
    ("can_logs", "negative-timestamp"): "expected: ReplayError",
    # fuzz finding fixed here: a dynamic array of zero-byte elements looped forever (a hang)
    ("someip_codec", "zero-size-element-array"): "expected: CodecError",
}
XFAIL: dict[tuple[str, str], str] = {}  # findings not fixed yet: strict xfails that flip once fixed
# replayed in a subprocess with a deadline: a hang fails the test instead of stopping the suite
HANG_DEADLINE_S = 10
IN_SUBPROCESS = {("manifests", "recursive-alias")}


def _cases():
    for target_dir in sorted(p for p in REGRESSIONS.iterdir() if p.is_dir()):
        for path in sorted(target_dir.iterdir()):
            key = (target_dir.name, path.name)
            marks = [pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else []
            yield pytest.param(*key, marks=marks, id=f"{key[0]}/{key[1]}")


def test_every_saved_input_has_an_outcome():
    saved = {(p.parent.name, p.name) for p in REGRESSIONS.glob("*/*")}
    assert saved == set(OUTCOMES) | set(XFAIL)


@pytest.mark.parametrize(("target", "name"), list(_cases()))
def test_regression_input_is_handled(target, name, tmp_path):
    path = REGRESSIONS / target / name
    want = OUTCOMES.get((target, name))
    if target in NATIVE_TARGETS or (target, name) in IN_SUBPROCESS:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "fuzz.replay", target, str(path)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=HANG_DEADLINE_S,
                env={
                    **os.environ,
                    "VMW_FUZZ_SCRATCH": str(tmp_path),
                },  # a killed replay leaves nothing behind
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{target}/{name}: still running after {HANG_DEADLINE_S} s (a hang)")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        got = proc.stdout.strip().split(": ", 1)[1]  # "<file>: <outcome>"
    else:
        got = judge(load_target(target), path.read_bytes())
    assert want is None or got == want, f"{target}/{name}: {got}, expected {want}"
