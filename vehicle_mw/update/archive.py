"""Safe extraction of a package archive (tar, optionally gzip) into a fresh folder.

The archive was verified against signed hashes, but a signed archive can still come from a
compromised build: refuse absolute paths, '..', links that leave the folder, writes through a
link, hard links, devices, too many or too large members. Files are written by this module
(no setuid bits, O_NOFOLLOW|O_EXCL) and fsynced, so a renamed folder is complete after power loss.
"""

from __future__ import annotations

import os
import pathlib
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from vehicle_mw.update.errors import UpdateRefused
from vehicle_mw.update.storage import fsync_dir


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds of what one package may contain."""

    max_members: int = 10_000
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024


def _clean(name: str, target: str) -> str:
    if name.startswith("/") or "\\" in name:
        raise UpdateRefused("bad_package", f"member {name!r}: absolute or backslash path", target)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise UpdateRefused("bad_package", f"member {name!r}: path leaves the package folder", target)
    return "/".join(parts)


def extract(
    archive: pathlib.Path,
    dest: pathlib.Path,
    target: str,
    limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008 - frozen dataclass
    reserved: frozenset[str] = frozenset(),
    on_member: Callable[[int], None] | None = None,
) -> int:
    """Extract ``archive`` into the new folder ``dest``; returns the member count."""
    dest.mkdir(mode=0o755)
    links: set[str] = set()
    dirs: set[str] = {""}
    count = total = 0
    try:
        tf = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise UpdateRefused("bad_package", f"not a tar archive ({exc})", target) from None
    with tf:
        try:
            for member in tf:
                count += 1
                if count > limits.max_members:
                    raise UpdateRefused("bad_package", f"more than {limits.max_members} members", target)
                name = _clean(member.name, target)
                if name in reserved:
                    raise UpdateRefused("bad_package", f"member {name!r} uses a reserved name", target)
                parent = posixpath.dirname(name)
                prefixes = [posixpath.join(*name.split("/")[: i + 1]) for i in range(name.count("/"))]
                if any(p in links for p in prefixes):
                    raise UpdateRefused("bad_package", f"member {name!r} is written through a link", target)
                path = dest / name
                if member.isdir():
                    path.mkdir(mode=0o755, parents=True, exist_ok=True)
                    dirs.update(prefixes + [name])
                    continue
                (dest / parent).mkdir(mode=0o755, parents=True, exist_ok=True)
                dirs.update(prefixes)
                if member.issym():
                    link = member.linkname
                    resolved = posixpath.normpath(posixpath.join(parent, link))
                    if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                        raise UpdateRefused(
                            "bad_package", f"link {name!r} -> {link!r} points out of the package", target
                        )
                    os.symlink(link, path)
                    links.add(name)
                    continue
                if not member.isfile():
                    raise UpdateRefused(
                        "bad_package", f"member {name!r}: only files, folders and inner links", target
                    )
                if member.size > limits.max_member_bytes:
                    raise UpdateRefused(
                        "bad_package",
                        f"member {name!r} of {member.size} B exceeds {limits.max_member_bytes} B",
                        target,
                    )
                total += member.size
                if total > limits.max_total_bytes:
                    raise UpdateRefused(
                        "bad_package", f"package exceeds {limits.max_total_bytes} B unpacked", target
                    )
                _write_member(tf, member, path, name, target)
                if on_member is not None:
                    on_member(count)
        except (tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, FileExistsError):
                raise UpdateRefused("bad_package", f"member {exc.filename!r} appears twice", target) from None
            raise UpdateRefused("bad_package", f"damaged archive ({exc})", target) from None
    base = os.path.realpath(dest)
    for name in sorted(links):  # chains of links can leave where each one alone does not
        real = os.path.realpath(dest / name)
        if real != base and not real.startswith(base + os.sep):
            raise UpdateRefused("bad_package", f"link {name!r} resolves out of the package", target)
    for d in sorted(dirs, key=len, reverse=True):
        fsync_dir(dest / d if d else dest)
    return count


def _write_member(
    tf: tarfile.TarFile, member: tarfile.TarInfo, path: pathlib.Path, name: str, target: str
) -> None:
    src = tf.extractfile(member)
    assert src is not None
    mode = 0o755 if member.mode & 0o111 else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        written = 0
        while chunk := src.read(1024 * 1024):
            written += len(chunk)
            if written > member.size:
                raise UpdateRefused("bad_package", f"member {name!r} longer than its header says", target)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
