"""kill -9 during download, install and activation: old or new version active, never a mix."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from update_rig import ROOT, Rig, archive_files, package_files

from vehicle_mw.update import NullHook

HERE = pathlib.Path(__file__).resolve().parent
POINTS = [
    ("download", 1, 1),
    ("member", 2, 1),  # half-way through unpacking
    ("extracted", 1, 1),
    ("installed", 1, 1),
    ("journal", 1, 1),
    ("stopped", 1, 1),
    ("switched", 1, 1),
    ("started", 1, 1),  # new version running, inside the health grace period
    ("committed", 1, 2),
]


def active_is_complete(rig: Rig, archives: dict[int, pathlib.Path]) -> int | None:
    """The active release, after checking its folder holds exactly that release's archive."""
    current = rig.installer().current("tcu1", "tele")
    if current is None:
        return None
    assert package_files(current.directory) == archive_files(archives[current.release])
    return current.release


@pytest.mark.parametrize(("point", "nth", "expected"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_9(rig: Rig, point: str, nth: int, expected: int) -> None:
    rig.assign(rig.publish(1))
    assert rig.client().update(NullHook()).status == "activated"
    path2 = rig.publish(2, payload=1_500_000)  # several chunks to download, several members to unpack
    rig.assign(path2)
    archives = {r: rig.packages / f"tele-{r}.tar.gz" for r in (1, 2)}

    marker = rig.tmp / "marker"
    cfg = {
        "url": rig.url,
        "state": str(rig.state),
        "install_root": str(rig.install_root),
        "block_at": point,
        "nth": nth,
        "marker": str(marker),
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "update_child.py"), json.dumps(cfg)], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()):
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, f"child never reached {point}"
            time.sleep(0.01)
        assert marker.read_text() == point
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    # right after the crash (what a restarted manager sees before recovery): one complete version
    assert active_is_complete(rig, archives) in (1, 2)
    actions = rig.installer().recover()
    assert active_is_complete(rig, archives) == expected, actions
    assert not list((rig.install_root / "staging").iterdir())
    assert not (rig.install_root / "journal.json").exists()
    # and the next cycle completes the update from there
    outcome = rig.client().update(NullHook())
    assert outcome.status == ("activated" if expected == 1 else "up_to_date")
    assert active_is_complete(rig, archives) == 2
    assert not list((rig.state / "downloads").iterdir())
