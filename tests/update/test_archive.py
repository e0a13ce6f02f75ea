"""Package archives that must not be unpacked: each refused as bad_package, nothing left behind."""

from __future__ import annotations

import pathlib
import tarfile

import pytest
from update_rig import Rig, add, app_manifest

from vehicle_mw.update import ArchiveLimits, NullHook, UpdateRefused

CASES = {
    "traversal": [("../evil.txt", b"x", tarfile.REGTYPE, "")],
    "absolute": [("/tmp/evil.txt", b"x", tarfile.REGTYPE, "")],
    "link_out": [("out", b"", tarfile.SYMTYPE, "../../../../etc")],
    "link_absolute": [("out", b"", tarfile.SYMTYPE, "/etc/passwd")],
    "write_through_link": [("d", b"", tarfile.SYMTYPE, "."), ("d/x.txt", b"x", tarfile.REGTYPE, "")],
    "link_chain_out": [
        ("a/b/s", b"", tarfile.SYMTYPE, "../.."),
        ("a/b/t", b"", tarfile.SYMTYPE, "s/.."),
    ],
    "hardlink": [("h", b"", tarfile.LNKTYPE, "manifest.yaml")],
    "device": [("dev", b"", tarfile.CHRTYPE, "")],
    "duplicate": [("app.py", b"x", tarfile.REGTYPE, ""), ("app.py", b"y", tarfile.REGTYPE, "")],
    "no_manifest": None,
    "bad_manifest": [("manifest.yaml", b"applications: [{name: 1}]", tarfile.REGTYPE, "")],
}


def build(path: pathlib.Path, case: str) -> pathlib.Path:
    members = CASES[case]
    with tarfile.open(path, "w:gz") as tf:
        if case not in ("no_manifest", "bad_manifest"):
            add(tf, "manifest.yaml", app_manifest())
        for name, data, kind, link in members or [("app.py", b"pass\n", tarfile.REGTYPE, "")]:
            add(tf, name, data, kind, link)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_package_refused(rig: Rig, case: str) -> None:
    rig.assign(rig.publish(1))
    assert rig.client().update(NullHook()).status == "activated"
    pkg = build(rig.packages / "tele-2.tar.gz", case)
    rig.assign(rig.image.publish(pkg, "tcu-hw", 2, name="tele").path)
    with pytest.raises(UpdateRefused) as info:
        rig.client().update(NullHook())
    assert info.value.reason == "bad_package", info.value
    assert rig.current_release() == 1
    assert not list((rig.install_root / "staging").iterdir())
    assert not (rig.install_root / "slots" / "tcu1" / "tele" / "releases" / "2").exists()
    assert not (rig.tmp / "evil.txt").exists()


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (ArchiveLimits(max_members=3), "more than 3 members"),
        (ArchiveLimits(max_member_bytes=10), "exceeds 10 B"),
        (ArchiveLimits(max_total_bytes=100), "unpacked"),
    ],
)
def test_package_limits(rig: Rig, limits: ArchiveLimits, words: str) -> None:
    rig.assign(rig.publish(1))
    with pytest.raises(UpdateRefused) as info:
        rig.client(installer=rig.installer(limits=limits)).update(NullHook())
    assert info.value.reason == "bad_package" and words in str(info.value)
    assert rig.current_release() is None
