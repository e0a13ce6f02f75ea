"""A TUF repository kept as metadata files on disk, built on ``tuf.repository.Repository``.

Both the Image repository and each vehicle's Director repository are one of these: consistent
snapshots (``N.snapshot.json``, ``N.targets.json``, ``N.root.json``), timestamp and snapshot
metadata that carry length and hashes (so a client never downloads more than was signed),
every file written atomically. Root may live in another folder: the Director shares one root
among all vehicles.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable, Mapping

from securesystemslib.signer import Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp
from tuf.repository import Repository

from vehicle_mw.update.errors import UpdateError
from vehicle_mw.update.storage import atomic_write

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The system clock as an aware UTC datetime (the default clock of repositories and clients)."""
    return dt.datetime.now(dt.UTC)


class FileRepository(Repository):
    """Metadata of one TUF repository in ``metadata_dir`` (root in ``root_dir``, default the same)."""

    def __init__(
        self,
        metadata_dir: pathlib.Path,
        signers: Callable[[str], list[Signer]],
        expiry: Mapping[str, dt.timedelta],
        clock: Clock = utc_now,
        root_dir: pathlib.Path | None = None,
    ) -> None:
        self.metadata_dir = pathlib.Path(metadata_dir)
        self.root_dir = pathlib.Path(root_dir) if root_dir else self.metadata_dir
        self._signers = signers
        self._expiry = dict(expiry)
        self._clock = clock

    # -- storage ---------------------------------------------------------------------
    def _dir(self, role: str) -> pathlib.Path:
        return self.root_dir if role == Root.type else self.metadata_dir

    def _path(self, role: str) -> pathlib.Path:
        return self._dir(role) / f"{role}.json"

    def has(self, role: str) -> bool:
        return self._path(role).exists()

    def stored_version(self, role: str) -> int:
        return self.open(role).signed.version if self.has(role) else 0

    def open(self, role: str) -> Metadata:
        """The latest stored metadata of ``role``, or a fresh unsigned one (version 1)."""
        path = self._path(role)
        try:
            return Metadata.from_bytes(path.read_bytes())
        except FileNotFoundError:
            pass
        except Exception as exc:  # a damaged file must name itself
            raise UpdateError(f"{path}: unreadable TUF metadata ({exc})") from None
        expires = self._clock() + self._expiry[role]
        fresh = {
            Root.type: lambda: Root(expires=expires, consistent_snapshot=True),
            Targets.type: lambda: Targets(expires=expires),
            Snapshot.type: lambda: Snapshot(expires=expires),
            Timestamp.type: lambda: Timestamp(expires=expires),
        }
        return Metadata(fresh[role]())

    def close(self, role: str, md: Metadata) -> None:
        """Bump version and expiry, sign with the role's keys, store (versioned copy too)."""
        md.signed.version = self.stored_version(role) + 1
        md.signed.expires = (self._clock() + self._expiry[role]).replace(microsecond=0)
        md.signatures.clear()
        for signer in self._signers(role):
            md.sign(signer, append=True)
        data = md.to_bytes()
        folder = self._dir(role)
        folder.mkdir(parents=True, exist_ok=True)
        if role != Timestamp.type:  # consistent snapshot: clients fetch N.<role>.json
            atomic_write(folder / f"{md.signed.version}.{role}.json", data)
        atomic_write(self._path(role), data)

    # -- what snapshot and timestamp describe -------------------------------------------
    @property
    def targets_infos(self) -> dict[str, MetaFile]:
        data = self._path(Targets.type).read_bytes()
        version = Metadata.from_bytes(data).signed.version
        return {"targets.json": MetaFile.from_data(version, data, ["sha256"])}

    @property
    def snapshot_info(self) -> MetaFile:
        data = self._path(Snapshot.type).read_bytes()
        return MetaFile.from_data(Metadata.from_bytes(data).signed.version, data, ["sha256"])

    def publish_chain(self, force_timestamp: bool = False) -> None:
        """After a targets change: new snapshot if needed, then new timestamp if needed."""
        self.do_snapshot()
        self.do_timestamp(force=force_timestamp)

    def verify_stored(self, role: str) -> None:
        """UpdateError when the stored ``role`` is not signed by the current root's keys."""
        md = self.open(role)
        try:
            self.root().verify_delegate(role, md.signed_bytes, md.signatures)
        except UnsignedMetadataError as exc:
            raise UpdateError(f"{self._path(role)}: not signed by the current root ({exc})") from None
