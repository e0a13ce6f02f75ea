"""Durable small files: atomic replace with fsync, and an advisory lock for read-modify-write.

Repository state and vehicle state are small JSON documents; a crash (kill -9, power loss) must
leave either the old or the new document, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import secrets
from collections.abc import Iterator
from typing import Any

from vehicle_mw.update.errors import UpdateError


def fsync_dir(path: pathlib.Path) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder, fsync, rename)."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json(path: str | os.PathLike[str], doc: Any, mode: int = 0o644) -> None:
    """Atomically write ``doc`` as indented, key-sorted JSON."""
    atomic_write(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode(), mode)


def read_json(path: str | os.PathLike[str], default: Any = None) -> Any:
    """Read a JSON document; ``default`` when absent; UpdateError naming the file when damaged."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UpdateError(f"{path}: not valid JSON ({exc})") from None


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created) for a read-modify-write."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
