"""The Director: per-vehicle instructions signed with online keys, and the vehicles' reports.

Each vehicle has its own targets/snapshot/timestamp chain under ``vehicles/<id>/``; one root
(``root/``) is shared. A Director target copies length, hashes and custom fields from the
Image repository and adds the ECU serial it is meant for. State (``state.json``, written
atomically under a lock): registered vehicles (report key, ECUs), assignments, the last
accepted version report and its counter. Layout of ``path``::

    keys/  root/  vehicles/<id>/  state.json
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import pathlib
import re
import time
from collections.abc import Iterable
from typing import Any

from tuf.api.metadata import TargetFile

from vehicle_mw.update.errors import UpdateError, UpdateRefused
from vehicle_mw.update.image_repo import ImageRepository
from vehicle_mw.update.keys import ROLES, KeyDir
from vehicle_mw.update.repository import Clock, FileRepository, utc_now
from vehicle_mw.update.storage import locked, read_json, write_json
from vehicle_mw.update.targets import TargetMeta
from vehicle_mw.update.version_report import load_public_pem, verify_report

DIRECTOR_EXPIRY = {
    "root": dt.timedelta(days=365),
    "targets": dt.timedelta(days=30),
    "snapshot": dt.timedelta(days=7),
    "timestamp": dt.timedelta(days=1),
}
VEHICLE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Director:
    """The Director repository in ``path`` (online keys in ``path/keys``)."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = utc_now) -> None:
        self.path = pathlib.Path(path)
        self.keys = KeyDir(self.path / "keys")
        self.root_dir = self.path / "root"
        self.vehicles_dir = self.path / "vehicles"
        self.state_path = self.path / "state.json"
        self._clock = clock
        self._root_extra: list[Any] = []
        self._root_repo = FileRepository(self.root_dir, self._signers, DIRECTOR_EXPIRY, clock, self.root_dir)

    def _signers(self, role: str) -> list[Any]:
        return [self.keys.signer(role)] + (self._root_extra if role == "root" else [])

    def vehicle_repo(self, vehicle_id: str) -> FileRepository:
        """The TUF repository of one vehicle's instructions."""
        check_vehicle_id(vehicle_id)
        return FileRepository(
            self.vehicles_dir / vehicle_id, self._signers, DIRECTOR_EXPIRY, self._clock, self.root_dir
        )

    # -- set-up ---------------------------------------------------------------------------
    def init(self) -> None:
        """Online keys and the shared root."""
        if self._root_repo.has("root"):
            raise UpdateError(f"{self.root_dir}: Director already initialised")
        for role in ROLES:
            if not self.keys.exists(role):
                self.keys.create(role)
        self.path.mkdir(parents=True, exist_ok=True)
        with locked(self.path / ".lock"):
            with self._root_repo.edit_root() as root:
                for role in ROLES:
                    root.add_key(self.keys.public(role), role)
            write_json(self.state_path, {"vehicles": {}})

    def rotate(self, role: str) -> int:
        """New key for ``role``; new shared root; every vehicle's affected metadata re-signed."""
        with locked(self._lock_path()):
            old, new = self.keys.rotate(role)
            self._root_extra = [old] if role == "root" else []
            try:
                with self._root_repo.edit_root() as root:
                    root.revoke_key(old.public_key.keyid, role)
                    root.add_key(new.public_key, role)
                    version = root.version + 1
            finally:
                self._root_extra = []
            for vid in self._state()["vehicles"]:
                repo = self.vehicle_repo(vid)
                if role == "targets":
                    with repo.edit_targets():
                        pass
                if role in ("targets", "snapshot"):
                    repo.do_snapshot(force=True)
                repo.do_timestamp(force=True)
        return version

    def root_bytes(self) -> bytes:
        """The Director root a vehicle is provisioned with."""
        return (self.root_dir / "root.json").read_bytes()

    # -- vehicles -------------------------------------------------------------------------
    def register(self, vehicle_id: str, public_key_pem: str, ecus: dict[str, str]) -> None:
        """Know a vehicle: its report key and ECUs (serial -> hardware id); empty instructions."""
        check_vehicle_id(vehicle_id)
        load_public_pem(public_key_pem, f"public key of {vehicle_id}")
        if not ecus:
            raise UpdateError(f"vehicle {vehicle_id}: at least one ECU (--ecu SERIAL=HARDWARE_ID)")
        with locked(self._lock_path()):
            state = self._state()
            entry = state["vehicles"].setdefault(vehicle_id, {"assigned": {}, "counter": 0, "report": None})
            entry["public_key"] = public_key_pem
            entry["ecus"] = dict(ecus)
            repo = self.vehicle_repo(vehicle_id)
            if not repo.has("targets"):
                with repo.edit_targets():
                    pass
                repo.publish_chain()
            write_json(self.state_path, state)

    def select(self, selector: str) -> list[str]:
        """Vehicles matching ``all``, ``hardware_id=HW`` (has such an ECU) or ``vehicle=GLOB``."""
        vehicles = self._state()["vehicles"]
        key, _, value = selector.partition("=")
        if selector == "all":
            return sorted(vehicles)
        if key == "hardware_id" and value:
            return sorted(v for v, e in vehicles.items() if value in e["ecus"].values())
        if key == "vehicle" and value:
            return sorted(v for v in vehicles if fnmatch.fnmatchcase(v, value))
        raise UpdateError(f"selector {selector!r}: use all, hardware_id=HW or vehicle=GLOB")

    def assign(self, vehicles: Iterable[str], target_path: str, image: ImageRepository) -> list[str]:
        """Instruct ``vehicles`` to install ``target_path`` (replacing their assignment of that name)."""
        info = image.targets().get(target_path)
        if info is None:
            raise UpdateError(f"{target_path}: not a target of the Image repository {image.path}")
        custom = info.custom or {}
        done = []
        with locked(self._lock_path()):
            state = self._state()
            for vid in vehicles:
                entry = state["vehicles"].get(vid)
                if entry is None:
                    raise UpdateError(f"vehicle {vid!r} is not registered (vmw update vehicle add)")
                ecu = next(
                    (s for s, hw in sorted(entry["ecus"].items()) if hw == custom["hardware_id"]), None
                )
                if ecu is None:
                    raise UpdateError(
                        f"vehicle {vid}: no ECU with hardware id {custom['hardware_id']} "
                        f"(it has {', '.join(f'{s}={h}' for s, h in entry['ecus'].items())})"
                    )
                meta = TargetMeta(
                    custom["name"], custom["hardware_id"], custom["release"], custom["kind"], ecu
                )
                entry["assigned"][f"{ecu}/{meta.name}"] = {
                    "path": target_path,
                    "at": time.time(),
                    **meta.custom(),
                }
                director_target = TargetFile(
                    info.length, dict(info.hashes), target_path, {"custom": meta.custom()}
                )
                self._write_targets(vid, entry, extra={target_path: director_target})
                done.append(vid)
            write_json(self.state_path, state)
        return done

    def write_vehicle_targets(self, vehicle_id: str, targets: dict[str, TargetFile]) -> None:
        """Sign exactly ``targets`` as the vehicle's instructions (low level: what the online key can do)."""
        repo = self.vehicle_repo(vehicle_id)
        with locked(self._lock_path()):
            with repo.edit_targets() as signed:
                signed.targets = dict(targets)
            repo.publish_chain()

    def resign_timestamps(self) -> int:
        """Fresh timestamps for every vehicle (they expire daily)."""
        with locked(self._lock_path()):
            vehicles = list(self._state()["vehicles"])
            for vid in vehicles:
                self.vehicle_repo(vid).do_timestamp(force=True)
        return len(vehicles)

    def _write_targets(self, vid: str, entry: dict[str, Any], extra: dict[str, TargetFile]) -> None:
        repo = self.vehicle_repo(vid)
        wanted = {a["path"] for a in entry["assigned"].values()}
        with repo.edit_targets() as signed:
            kept = {p: t for p, t in signed.targets.items() if p in wanted}
            signed.targets = {**kept, **extra}
        repo.publish_chain()

    # -- reports --------------------------------------------------------------------------
    def receive_report(self, vehicle_id: str, data: bytes) -> dict[str, Any]:
        """Verify and record a vehicle version report; refuses forged, malformed and replayed ones."""
        check_vehicle_id(vehicle_id)
        with locked(self._lock_path()):
            state = self._state()
            entry = state["vehicles"].get(vehicle_id)
            if entry is None:
                raise UpdateRefused("unknown_vehicle", "no such registered vehicle", vehicle_id)
            signed = verify_report(data, load_public_pem(entry["public_key"], vehicle_id), vehicle_id)
            if signed["counter"] <= entry["counter"]:
                raise UpdateRefused(
                    "replay",
                    f"report counter {signed['counter']} does not increase (last: {entry['counter']})",
                    vehicle_id,
                )
            entry["counter"] = signed["counter"]
            entry["report"] = signed
            entry["reported_at"] = time.time()
            write_json(self.state_path, state)
        return signed

    def status(self) -> dict[str, Any]:
        """Per vehicle: ECUs, assignments, last report (installed, attack), derived rollout state."""
        out = {}
        for vid, entry in self._state()["vehicles"].items():
            report = entry.get("report") or {}
            installed = {
                f"{t.get('ecu')}/{t.get('name')}": t.get("release") for t in report.get("installed", [])
            }
            pending = [k for k, a in entry["assigned"].items() if installed.get(k) != a["release"]]
            out[vid] = {
                "ecus": entry["ecus"],
                "assigned": entry["assigned"],
                "installed": installed,
                "attack": report.get("attack"),
                "last_result": report.get("last_result"),
                "counter": entry["counter"],
                "state": "installed"
                if entry["assigned"] and not pending
                else ("assigned" if pending else "idle"),
            }
        return out

    def _state(self) -> dict[str, Any]:
        state = read_json(self.state_path)
        if not isinstance(state, dict) or not isinstance(state.get("vehicles"), dict):
            raise UpdateError(f"{self.state_path}: no Director state (run `vmw update keys init`)")
        return state

    def _lock_path(self) -> pathlib.Path:
        if not self._root_repo.has("root"):
            raise UpdateError(f"{self.root_dir}: no Director here (run `vmw update keys init`)")
        return self.path / ".lock"


def check_vehicle_id(vehicle_id: str) -> None:
    if not VEHICLE_RE.match(vehicle_id):
        raise UpdateError(f"vehicle id {vehicle_id!r}: letters, digits, '._:-', at most 64 characters")
