"""The shared-memory block an application reports its health through.

One small file in ``/dev/shm`` per application instance, written by exactly one
process (the app, via :mod:`vehicle_mw.exec.client`) and read by the execution
manager. No syscalls on the app's hot path: a heartbeat is one 8-byte store.

Layout (native endianness)::

    0  u32 magic 'VMWH'   4  u32 version
    8  u32 pid           12  u32 state (0 starting, 1 running)
    16 u64 heartbeats    24 u64 checkpoints written
    32 64 x {u32 checkpoint index, u32 pad, u64 monotonic ns}

A checkpoint entry is written before the counter that publishes it.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass

MAGIC = 0x484D5756  # 'VMWH'
VERSION = 1
RING = 64
_HEADER = struct.Struct("=IIIIQQ")
_ENTRY = struct.Struct("=IIQ")
SIZE = _HEADER.size + RING * _ENTRY.size
_HB_OFF = 16
_CP_OFF = 24
_STATE_OFF = 12

STATE_STARTING = 0
STATE_RUNNING = 1


@dataclass(frozen=True)
class Checkpoint:
    index: int
    t_ns: int


class HealthBlock:
    """A mapped health block; ``create`` for the manager, ``open`` for the application."""

    def __init__(self, path: str, mm: mmap.mmap) -> None:
        self.path = path
        self._mm = mm
        self._read_cp = 0

    @classmethod
    def create(cls, path: str) -> HealthBlock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, SIZE)
            mm = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        _HEADER.pack_into(mm, 0, MAGIC, VERSION, 0, STATE_STARTING, 0, 0)
        return cls(path, mm)

    @classmethod
    def open(cls, path: str) -> HealthBlock:
        fd = os.open(path, os.O_RDWR)
        try:
            mm = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        magic, version = struct.unpack_from("=II", mm, 0)
        if magic != MAGIC or version != VERSION:
            mm.close()
            raise ValueError(f"{path} is not a vehicle_mw health block (version {VERSION})")
        return cls(path, mm)

    # -- application side -------------------------------------------------------------
    def set_running(self) -> None:
        struct.pack_into("=II", self._mm, 8, os.getpid(), STATE_RUNNING)

    def heartbeat(self) -> None:
        mm = self._mm
        struct.pack_into("=Q", mm, _HB_OFF, struct.unpack_from("=Q", mm, _HB_OFF)[0] + 1)

    def checkpoint(self, index: int, t_ns: int) -> None:
        mm = self._mm
        n = struct.unpack_from("=Q", mm, _CP_OFF)[0]
        _ENTRY.pack_into(mm, _HEADER.size + (n % RING) * _ENTRY.size, index, 0, t_ns)
        struct.pack_into("=Q", mm, _CP_OFF, n + 1)

    # -- manager side -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return struct.unpack_from("=I", self._mm, _STATE_OFF)[0] == STATE_RUNNING

    @property
    def heartbeats(self) -> int:
        return struct.unpack_from("=Q", self._mm, _HB_OFF)[0]

    def new_checkpoints(self) -> tuple[list[Checkpoint], int]:
        """Checkpoints written since the last call, and how many were lost (ring overrun)."""
        n = struct.unpack_from("=Q", self._mm, _CP_OFF)[0]
        lost = max(0, n - self._read_cp - RING)
        start = self._read_cp + lost
        out = []
        for k in range(start, n):
            index, _, t_ns = _ENTRY.unpack_from(self._mm, _HEADER.size + (k % RING) * _ENTRY.size)
            out.append(Checkpoint(index, t_ns))
        self._read_cp = n
        return out, lost

    def close(self, unlink: bool = False) -> None:
        try:
            self._mm.close()
        except BufferError:  # pragma: no cover - a view still exported
            pass
        if unlink:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


__all__ = ["Checkpoint", "HealthBlock", "SIZE"]
