"""The Uptane threat list: each attack fails with its reason and leaves the running version untouched."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from tuf.api.metadata import TargetFile
from update_rig import ECUS, VIN, Rig, make_package, past_clock

from vehicle_mw.update import Director, ImageRepository, NullHook, UpdateRefused
from vehicle_mw.update.repository import utc_now


@pytest.fixture
def r1(rig: Rig) -> Rig:
    """The vehicle runs release 1 of ``tele``."""
    rig.assign(rig.publish(1))
    assert rig.client().update(NullHook()).status == "activated"
    assert rig.current_release() == 1
    return rig


def refused(rig: Rig, reason: str, **kw: object) -> UpdateRefused:
    """Run an update cycle that must be refused for ``reason``; release 1 stays active."""
    client = rig.client(**kw)
    with pytest.raises(UpdateRefused) as info:
        client.update(NullHook())
    assert info.value.reason == reason, info.value
    assert rig.current_release() == 1
    report = json.loads(client.version_report())["signed"]
    assert report["attack"]["reason"] == reason
    assert [(t["name"], t["release"]) for t in report["installed"]] == [("tele", 1)]
    return info.value


def test_arbitrary_software_hash_mismatch(r1: Rig) -> None:
    path = r1.publish(2)
    r1.assign(path)
    f = r1.image_target_file(path)
    f.write_bytes(bytes(len(f.read_bytes())))  # same length, other bytes
    exc = refused(r1, "hash_mismatch")
    assert exc.target == path


def test_rollback_to_lower_release(r1: Rig) -> None:
    old = r1.image.targets()["tele/1/tele-1.tar.gz"].path
    r1.assign(r1.publish(2))
    assert r1.client().update(NullHook()).status == "activated"
    r1.assign(old)  # validly signed by both repositories, but older than what runs
    client = r1.client()
    with pytest.raises(UpdateRefused) as info:
        client.update(NullHook())
    assert info.value.reason == "rollback" and "below the installed release 2" in str(info.value)
    assert r1.current_release() == 2


@pytest.mark.parametrize("repo", ["image", "director"])
def test_rollback_to_old_signed_metadata(r1: Rig, repo: str) -> None:
    meta = r1.repo / "image" / "metadata" if repo == "image" else r1.repo / "director" / "vehicles" / VIN
    saved = (meta / "timestamp.json").read_bytes()
    r1.assign(r1.publish(2))  # new timestamps in both repositories
    r1.client().check()  # the vehicle has seen (and trusts) the newer timestamp
    (meta / "timestamp.json").write_bytes(saved)  # an old but validly signed metadata set
    exc = refused(r1, "rollback")
    assert f"{repo} repository" in exc.message


def test_freeze_expired_timestamp(r1: Rig) -> None:
    r1.assign(r1.publish(2))
    frozen = ImageRepository(r1.repo / "image", r1.keys, clock=past_clock(2))
    frozen.resign_timestamp()  # signed "two days ago": expired a day ago
    exc = refused(r1, "freeze")
    assert "image repository" in exc.message


def test_freeze_detected_by_trusted_time_when_system_clock_is_behind(r1: Rig) -> None:
    r1.assign(r1.publish(2))
    # the metadata is valid by the system clock, but the vehicle's trusted time is 3 days later
    exc = refused(r1, "freeze", trusted_time=lambda: utc_now() + dt.timedelta(days=3))
    assert "trusted time" in exc.message


def test_mix_and_match(r1: Rig) -> None:
    p2, p3 = r1.publish(2), r1.publish(3)
    r2, r3 = r1.image.targets()[p2], r1.image.targets()[p3]
    # the Director names release 3 but with the bytes of release 2: never signed together
    mixed = TargetFile(r2.length, dict(r2.hashes), r3.path, {"custom": {**r3.custom, "ecu": "tcu1"}})
    r1.director.write_vehicle_targets(VIN, {r3.path: mixed})
    exc = refused(r1, "mix_and_match")
    assert "hashes" in exc.message


def test_endless_data_target_longer_than_signed(r1: Rig) -> None:
    path = r1.publish(2)
    r1.assign(path)
    f = r1.image_target_file(path)
    f.write_bytes(f.read_bytes() + bytes(2 * 1024 * 1024))
    refused(r1, "endless_data")


def test_endless_data_timestamp_over_limit(r1: Rig) -> None:
    r1.assign(r1.publish(2))
    (r1.repo / "image" / "metadata" / "timestamp.json").write_bytes(b" " * (1024 * 1024))
    exc = refused(r1, "endless_data")
    assert "image repository" in exc.message


def test_endless_data_metadata_over_vehicle_limit_even_when_signed(r1: Rig) -> None:
    # a compromised Director signs a 400 KB targets file; the snapshot declares that length,
    # but the vehicle's own limit for Director targets (256 KiB) holds
    path = r1.publish(2)
    info = r1.image.targets()[path]
    padded = TargetFile(info.length, dict(info.hashes), info.path, {"custom": {**info.custom, "ecu": "tcu1"}})
    padded.unrecognized_fields["padding"] = "x" * 400_000
    r1.director.write_vehicle_targets(VIN, {info.path: padded})
    exc = refused(r1, "endless_data")
    assert "director repository" in exc.message


def test_compromised_director_alone_cannot_install_unsigned_image(r1: Rig) -> None:
    evil = make_package(r1.packages / "evil.tar.gz", 9)
    path = "tele/9/evil.tar.gz"
    info = TargetFile.from_file(path, str(evil), ["sha256"])
    custom = {"name": "tele", "hardware_id": "tcu-hw", "release": 9, "kind": "app", "ecu": "tcu1"}
    info.unrecognized_fields["custom"] = custom
    r1.director.write_vehicle_targets(VIN, {path: info})  # signed with the Director's (stolen) online keys
    dest = r1.repo / "image" / "targets" / "tele" / "9" / f"{info.hashes['sha256']}.evil.tar.gz"
    dest.parent.mkdir(parents=True)
    shutil.copyfile(evil, dest)  # and the server hands out the file
    exc = refused(r1, "director_only")
    assert exc.target == path


def test_wrong_hardware_for_the_vehicles_ecu(r1: Rig) -> None:
    pkg = make_package(r1.packages / "brake.tar.gz", 1)
    info = r1.image.publish(pkg, "brake-hw", 1, name="tele")
    # the Director sends the brake image to the telematics ECU
    wrong = TargetFile(info.length, dict(info.hashes), info.path, {"custom": {**info.custom, "ecu": "tcu1"}})
    r1.director.write_vehicle_targets(VIN, {info.path: wrong})
    exc = refused(r1, "wrong_hardware")
    assert "brake-hw" in exc.message and "tcu-hw" in exc.message


def test_wrong_hardware_director_disagrees_with_image(r1: Rig) -> None:
    pkg = make_package(r1.packages / "brake.tar.gz", 1)
    info = r1.image.publish(pkg, "brake-hw", 1, name="tele")
    lie = TargetFile(
        info.length,
        dict(info.hashes),
        info.path,
        {"custom": {**info.custom, "hardware_id": "tcu-hw", "ecu": "tcu1"}},
    )
    r1.director.write_vehicle_targets(VIN, {info.path: lie})
    exc = refused(r1, "wrong_hardware")
    assert "the Image repository 'brake-hw'" in exc.message


def test_director_forged_by_other_key_is_refused(r1: Rig) -> None:
    rogue = Director(r1.tmp / "rogue")
    rogue.init()
    rogue.register(VIN, r1.director._state()["vehicles"][VIN]["public_key"], ECUS)
    path = r1.publish(2)
    info = r1.image.targets()[path]
    custom = {**info.custom, "ecu": "tcu1"}
    rogue.write_vehicle_targets(
        VIN, {path: TargetFile(info.length, dict(info.hashes), path, {"custom": custom})}
    )
    live = r1.repo / "director" / "vehicles" / VIN
    for f in (r1.tmp / "rogue" / "vehicles" / VIN).iterdir():
        shutil.copyfile(f, live / f.name)  # served in place of the real Director's files
    refused(r1, "bad_signature")


def test_replayed_vehicle_manifest(r1: Rig) -> None:
    client = r1.client()
    first = client.version_report()
    second = client.version_report()
    director = r1.director
    assert director.receive_report(VIN, second)["counter"] == 2
    for old in (second, first):  # the same report again, and an older one
        with pytest.raises(UpdateRefused) as info:
            director.receive_report(VIN, old)
        assert info.value.reason == "replay"
    assert director.status()[VIN]["counter"] == 2
    # over HTTP too
    assert client.send_report()["accepted"] == 3
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{r1.url}/director/{VIN}/manifest", data=second, method="POST")
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(req, timeout=10)
    assert http.value.code == 409 and json.loads(http.value.read())["reason"] == "replay"


def test_forged_vehicle_manifest(r1: Rig) -> None:
    report = json.loads(r1.client().version_report())
    report["signed"]["installed"] = []
    with pytest.raises(UpdateRefused) as info:
        r1.director.receive_report(VIN, json.dumps(report).encode())
    assert info.value.reason == "bad_signature"
    assert r1.director.status()[VIN]["counter"] == 0
