"""Updates over the vehicle link the car already has: repository files pushed as link Commands.

The link's downlink carries ``Command(kind, payload)`` and the vehicle answers ``CommandAck(ok,
detail)``; the gateway has ``send_command(vehicle, kind, payload) -> CommandAck``. That is enough:

1. ``update.offer`` (JSON ``{"files": [{path, length, sha256}]}``): every file the vehicle's two
   ngclient refreshes and downloads will ask for (root chains, timestamp, the snapshot and targets
   they name, the Director's targets). The vehicle checks each path and length against its own
   limits and answers ``{"need": [...]}``: what its mirror lacks (and not the targets it runs).
2. ``update.file`` (a JSON header line ``{path, offset}`` then raw bytes): the needed files, in
   chunks that fit the link's message limit, appended in order to the vehicle's mirror folder.
3. ``update.run``: the vehicle starts its update cycle (``on_run``); ``update.report``: the ack's
   detail is its signed version report, for ``Director.receive_report``.

The mirror is untrusted storage: ``MirrorFetcher`` serves it to ``ngclient`` under ``LINK_BASE``
URLs, and verification is exactly the HTTP one (signatures, versions, expiry, lengths, hashes,
the Uptane cross-check, the vehicle's per-URL caps). A missing file is a 404, as ngclient expects
for "no newer root".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tuf.api.exceptions import DownloadError, DownloadHTTPError
from tuf.ngclient import FetcherInterface

from vehicle_mw.update.errors import UpdateError
from vehicle_mw.update.server import CHUNK, SEGMENT_RE, repo_file, safe_join

log = logging.getLogger("vehicle_mw.update.link")

LINK_BASE = "link://gateway"  # VehicleConfig.for_server(LINK_BASE, ...) with MirrorFetcher
OFFER, FILE, RUN, REPORT = "update.offer", "update.file", "update.run", "update.report"
KINDS = frozenset({OFFER, FILE, RUN, REPORT})
MAX_OFFER_FILES = 512
FILE_CHUNK = 256 * 1024  # payload bytes per update.file command (default gateway limit: 4 MiB)


# -- gateway side -------------------------------------------------------------------------------
def _meta(path: pathlib.Path) -> dict[str, Any]:
    return json.loads(path.read_bytes())["signed"]


def _role_files(base: str, folder: pathlib.Path, roots: pathlib.Path) -> list[str]:
    """Root chain, timestamp, and the snapshot and targets versions it leads to (consistent snapshots)."""
    out = [
        f"{base}/{p.name}" for p in sorted(roots.glob("*.root.json"), key=lambda p: int(p.name.split(".")[0]))
    ]
    out.append(f"{base}/timestamp.json")
    snap = _meta(folder / "timestamp.json")["meta"]["snapshot.json"]["version"]
    out.append(f"{base}/{snap}.snapshot.json")
    targets = _meta(folder / f"{snap}.snapshot.json")["meta"]["targets.json"]["version"]
    out.append(f"{base}/{targets}.targets.json")
    return out


def offer_for(repo: str | os.PathLike[str], vehicle_id: str) -> list[dict[str, Any]]:
    """Every repository file one update cycle of ``vehicle_id`` reads, with length and SHA-256."""
    repo = pathlib.Path(repo)
    vehicle = repo / "director" / "vehicles" / vehicle_id
    if not (vehicle / "timestamp.json").exists():
        raise UpdateError(f"{vehicle}: no Director metadata for vehicle {vehicle_id!r}")
    director = _role_files(f"director/{vehicle_id}", vehicle, repo / "director" / "root")
    image = repo / "image" / "metadata"
    paths = director + _role_files("image/metadata", image, image)
    director_targets = _meta(vehicle / director[-1].rsplit("/", 1)[1])["targets"]
    for target, info in sorted(director_targets.items()):
        folder, _, name = target.rpartition("/")
        paths.append(f"image/targets/{folder}/{info['hashes']['sha256']}.{name}")
    files = []
    for path in paths:
        file = repo_file(repo, path)
        if file is None or not file.is_file():
            raise UpdateError(f"{repo}: {path} is not in the repository")
        digest = hashlib.sha256()
        with open(file, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        files.append({"path": path, "length": file.stat().st_size, "sha256": digest.hexdigest()})
    return files


@dataclass
class PushResult:
    """What one push cost: files and payload bytes sent, commands (round trips) used."""

    offered: int
    files: int
    bytes: int
    commands: int


Send = Callable[[str, bytes], Awaitable[Any]]  # (kind, payload) -> CommandAck (gateway.core.send_command)


async def push_update(
    send: Send, repo: str | os.PathLike[str], vehicle_id: str, run: bool = True, chunk: int = FILE_CHUNK
) -> PushResult:
    """Offer, send what the vehicle needs, then (``run``) start its cycle; UpdateError on a refusal.

    ``send`` is ``functools.partial(gateway_core.send_command, vehicle_id)`` or any transport
    with the same shape; the acks are the vehicle's answers.
    """
    repo = pathlib.Path(repo)
    files = offer_for(repo, vehicle_id)
    ack = await send(OFFER, json.dumps({"files": files}).encode())
    if not ack.ok:
        raise UpdateError(f"vehicle {vehicle_id} refused the update offer: {ack.detail}")
    offered = {f["path"] for f in files}
    need = json.loads(ack.detail)["need"]
    if not set(need) <= offered:
        raise UpdateError(f"vehicle {vehicle_id} asked for files not offered: {sorted(set(need) - offered)}")
    result = PushResult(len(files), 0, 0, 1)
    for path in need:
        file = repo_file(repo, path)
        assert file is not None
        with open(file, "rb") as f:
            offset = 0
            while True:
                data = f.read(chunk)
                header = json.dumps({"path": path, "offset": offset}).encode() + b"\n"
                ack = await send(FILE, header + data)
                result.commands += 1
                if not ack.ok:
                    raise UpdateError(f"vehicle {vehicle_id} refused {path} at {offset}: {ack.detail}")
                offset += len(data)
                result.bytes += len(data)
                if not data or ack.detail == "complete":
                    break
        result.files += 1
    if run:
        ack = await send(RUN, b"")
        result.commands += 1
        if not ack.ok:
            raise UpdateError(f"vehicle {vehicle_id} did not start its update cycle: {ack.detail}")
    return result


async def collect_report(send: Send, director: Any, vehicle_id: str) -> dict[str, Any]:
    """Ask the vehicle for its signed version report over the link; the Director verifies and keeps it."""
    ack = await send(REPORT, b"")
    if not ack.ok:
        raise UpdateError(f"vehicle {vehicle_id} sent no version report: {ack.detail}")
    return director.receive_report(vehicle_id, ack.detail.encode())


# -- vehicle side -------------------------------------------------------------------------------
def plain_path(path: str) -> bool:
    """A repository path of one of the three kinds, every segment a plain name."""
    parts = path.split("/")
    if not all(SEGMENT_RE.match(p) for p in parts):
        return False
    return (
        (parts[0] == "director" and len(parts) == 3)
        or (parts[:2] == ["image", "metadata"] and len(parts) == 3)
        or (parts[:2] == ["image", "targets"] and len(parts) >= 4)
    )


class LinkMirror:
    """The vehicle's end of the push: a bounded mirror folder; ``handle`` is the link command handler.

    ``limit(url)`` is the client's per-URL cap (``UpdateClient.limit_for``), ``budget`` bounds one
    offer's total, ``installed`` returns the SHA-256 of the running targets (never re-sent),
    ``on_run()`` starts an update cycle and says how it went, ``report()`` makes a version report.
    Commands arrive one after the other; a file is written in order and renamed once complete.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        limit: Callable[[str], int | None],
        *,
        budget: int = 1024 * 1024 * 1024,
        installed: Callable[[], set[str]] = set,
        on_run: Callable[[], str] | None = None,
        report: Callable[[], bytes] | None = None,
    ) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.limit, self.budget, self.installed = limit, budget, installed
        self.on_run, self.report = on_run, report
        self._offer: dict[str, dict[str, Any]] = {}

    def handle(self, cmd: Any) -> tuple[bool, str]:
        """(ok, detail) for an ``update.*`` Command; bad input is refused with a reason, never raised."""
        try:
            if cmd.kind == OFFER:
                return True, self._on_offer(cmd.payload)
            if cmd.kind == FILE:
                return True, self._on_file(cmd.payload)
            if cmd.kind == RUN:
                if self.on_run is None:
                    return False, "this vehicle runs no update cycle on request"
                return True, self.on_run()
            if cmd.kind == REPORT:
                if self.report is None:
                    return False, "this vehicle has no version report"
                return True, self.report().decode()
            return False, f"not an update command: {cmd.kind!r}"
        except (ValueError, KeyError, TypeError, OSError, UpdateError) as exc:
            return False, f"{cmd.kind}: {exc}"

    def path_of(self, path: str) -> pathlib.Path:
        file = safe_join(self.folder, path) if plain_path(path) else None
        if file is None:
            raise ValueError(f"not a repository path: {path!r}")
        return file

    def _on_offer(self, payload: bytes) -> str:
        files = json.loads(payload)["files"]
        if not isinstance(files, list) or len(files) > MAX_OFFER_FILES:
            raise ValueError(f"'files' must be a list of at most {MAX_OFFER_FILES}")
        offer, total = {}, 0
        for f in files:
            path, length, sha = str(f["path"]), int(f["length"]), str(f["sha256"])
            self.path_of(path)
            cap = self.limit(f"{LINK_BASE}/{path}")
            if cap is None or not 0 <= length <= cap:
                raise ValueError(f"{path}: {length} B over this vehicle's limit of {cap} B")
            offer[path] = {"length": length, "sha256": sha}
            total += length
        if total > self.budget:
            raise ValueError(f"offer of {total} B over the mirror budget of {self.budget} B")
        for old in [p for p in self.folder.rglob("*") if p.is_file()]:  # stale files would be served
            if str(old.relative_to(self.folder)) not in offer:
                old.unlink()
        running = self.installed()
        need = [
            p
            for p, f in offer.items()
            if not self._complete(p, f) and not (p.startswith("image/targets/") and f["sha256"] in running)
        ]
        self._offer = offer
        return json.dumps({"need": need})

    def _complete(self, path: str, f: dict[str, Any]) -> bool:
        file = self.path_of(path)
        if not file.is_file() or file.stat().st_size != f["length"]:
            return False
        return hashlib.sha256(file.read_bytes()).hexdigest() == f["sha256"]

    def _on_file(self, payload: bytes) -> str:
        header, sep, data = payload.partition(b"\n")
        if not sep:
            raise ValueError("no header line")
        head = json.loads(header)
        path, offset = str(head["path"]), int(head["offset"])
        f = self._offer.get(path)
        if f is None:
            raise ValueError(f"{path}: not in the current offer")
        final = self.path_of(path)
        part = final.with_name(final.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if offset == 0:
            have = 0
            part.unlink(missing_ok=True)
        if offset != have:
            raise ValueError(f"{path}: chunk at {offset}, expected {have}")
        if offset + len(data) > f["length"]:
            raise ValueError(f"{path}: more than the offered {f['length']} B")
        with open(part, "ab") as out:
            out.write(data)
        if offset + len(data) < f["length"]:
            return f"{offset + len(data)}/{f['length']}"
        if hashlib.sha256(part.read_bytes()).hexdigest() != f["sha256"]:
            part.unlink()
            raise ValueError(f"{path}: SHA-256 differs from the offer (broken transfer)")
        os.replace(part, final)
        return "complete"


class MirrorFetcher(FetcherInterface):
    """ngclient's fetcher over the mirror: ``LINK_BASE/<path>`` -> the mirrored file, else 404."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = pathlib.Path(folder)

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(LINK_BASE + "/"):
            raise DownloadError(f"{url}: not a link URL ({LINK_BASE}/...)")
        path = url[len(LINK_BASE) + 1 :]
        file = safe_join(self.folder, path) if plain_path(path) else None
        try:
            f = open(file, "rb") if file is not None else None  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            f = None
        if f is None:
            raise DownloadHTTPError(f"{url}: not on the link mirror", 404)
        with f:
            while chunk := f.read(CHUNK):
                yield chunk


__all__ = [
    "LINK_BASE",
    "LinkMirror",
    "MirrorFetcher",
    "PushResult",
    "collect_report",
    "offer_for",
    "push_update",
]
