"""The Image repository: every image (package, manifest, database, campaign) the OEM ever signed.

Its keys can stay offline; a vehicle installs nothing the Image repository has not signed, so
a compromised Director alone cannot install arbitrary software. Layout of ``path``::

    metadata/   1.root.json root.json N.targets.json N.snapshot.json timestamp.json ...
    targets/    <name>/<release>/<sha256>.<file>   (consistent-snapshot names)
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil

from securesystemslib.signer import Signer
from tuf.api.metadata import Root, TargetFile

from vehicle_mw.update.errors import UpdateError
from vehicle_mw.update.keys import ROLES, KeyDir
from vehicle_mw.update.repository import Clock, FileRepository, utc_now
from vehicle_mw.update.storage import locked
from vehicle_mw.update.targets import TargetMeta, check_fields

IMAGE_EXPIRY = {
    "root": dt.timedelta(days=365),
    "targets": dt.timedelta(days=90),
    "snapshot": dt.timedelta(days=7),
    "timestamp": dt.timedelta(days=1),
}


def _archive_stem(path: pathlib.Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".yaml", ".yml", ".json", ".dbc", ".arxml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


class ImageRepository:
    """The Image repository in ``path``, signing with the keys in ``keys`` (possibly offline)."""

    def __init__(
        self, path: str | os.PathLike[str], keys: KeyDir | None = None, clock: Clock = utc_now
    ) -> None:
        self.path = pathlib.Path(path)
        self.metadata_dir = self.path / "metadata"
        self.targets_dir = self.path / "targets"
        self.keys = keys
        self._root_extra: list[Signer] = []  # the old root key while a root rotation is signed
        self.repo = FileRepository(self.metadata_dir, self._signers, IMAGE_EXPIRY, clock)

    def _lock(self) -> pathlib.Path:
        if not self.repo.has("root"):
            raise UpdateError(f"{self.metadata_dir}: no Image repository here (run `vmw update keys init`)")
        return self.path / ".lock"

    def _signers(self, role: str) -> list[Signer]:
        if self.keys is None:
            raise UpdateError(f"{self.path}: signing needs the key directory (--keys)")
        signers: list[Signer] = [self.keys.signer(role)]
        return signers + self._root_extra if role == Root.type else signers

    # -- set-up and keys -----------------------------------------------------------------
    def init(self) -> None:
        """Create keys (those missing) and the first root, targets, snapshot and timestamp."""
        if self.repo.has("root"):
            raise UpdateError(f"{self.metadata_dir}: repository already initialised")
        assert self.keys is not None
        for role in ROLES:
            if not self.keys.exists(role):
                self.keys.create(role)
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        with locked(self.path / ".init-lock"):
            with self.repo.edit_root() as root:
                for role in ROLES:
                    root.add_key(self.keys.public(role), role)
            with self.repo.edit_targets():
                pass
            self.repo.publish_chain()

    def rotate(self, role: str) -> int:
        """Replace ``role``'s key in a new root (signed by old and new root keys); its version."""
        assert self.keys is not None
        with locked(self._lock()):
            old, new = self.keys.rotate(role)
            self._root_extra = [old] if role == Root.type else []
            try:
                with self.repo.edit_root() as root:
                    root.revoke_key(old.public_key.keyid, role)
                    root.add_key(new.public_key, role)
                    version = root.version + 1
            finally:
                self._root_extra = []
            # metadata signed by the retired key must be re-signed by the new one
            if role == "targets":
                with self.repo.edit_targets():
                    pass
            if role in ("targets", "snapshot"):
                self.repo.do_snapshot(force=True)
            self.repo.do_timestamp(force=True)
        return version

    def resign_timestamp(self) -> int:
        """A fresh timestamp (it expires daily: a frozen repository is noticed by vehicles)."""
        with locked(self._lock()):
            self.repo.do_timestamp(force=True)
            return self.repo.timestamp().version

    # -- images ----------------------------------------------------------------------------
    def publish(
        self,
        package: str | os.PathLike[str],
        hardware_id: str,
        release: int,
        kind: str = "app",
        name: str | None = None,
    ) -> TargetFile:
        """Sign ``package`` as target ``<name>/<release>/<file>``; releases of a name only go up."""
        src = pathlib.Path(package)
        if not src.is_file():
            raise UpdateError(f"{src}: no such file")
        name = name or _archive_stem(src)
        check_fields(name, hardware_id, release, kind)
        path = f"{name}/{release}/{src.name}"
        with locked(self._lock()):
            current = self.targets()
            for other_path, other in current.items():
                c = other.custom or {}
                if (
                    c.get("name") == name
                    and c.get("hardware_id") == hardware_id
                    and c.get("release", 0) >= release
                ):
                    raise UpdateError(
                        f"{name} for {hardware_id}: release {release} is not above the published "
                        f"release {c.get('release')} ({other_path}); release counters never go down"
                    )
            info = TargetFile.from_file(path, str(src), ["sha256"])
            info.unrecognized_fields["custom"] = TargetMeta(name, hardware_id, release, kind).custom()
            dest = self.targets_dir / name / str(release) / f"{info.hashes['sha256']}.{src.name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)  # the file is in place before any metadata names it
            with self.repo.edit_targets() as targets:
                targets.targets[path] = info
            self.repo.publish_chain()
        return info

    def targets(self) -> dict[str, TargetFile]:
        """Every target the current targets metadata signs, by path."""
        return dict(self.repo.targets().targets)

    def root_bytes(self) -> bytes:
        """The current root metadata (what a vehicle is provisioned with at install)."""
        return (self.metadata_dir / "root.json").read_bytes()
