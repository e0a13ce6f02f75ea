"""One scratch file per fuzzing process, for parsers that only read files (overwritten per input)."""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

# libFuzzer ends the process with C exit(), past Python's atexit: the runner then passes a folder
# it removes itself (VMW_FUZZ_SCRATCH); in-process use (tests, replay) cleans up at exit.
_DIR = pathlib.Path(
    tempfile.mkdtemp(prefix=f"vmw-fuzz-{os.getpid()}-", dir=os.environ.get("VMW_FUZZ_SCRATCH"))
)
atexit.register(shutil.rmtree, _DIR, True)


def scratch_file(data: bytes, suffix: str) -> pathlib.Path:
    """``data`` written to this process's scratch file with ``suffix``."""
    path = _DIR / f"input{suffix}"
    path.write_bytes(data)
    return path


def scratch_dir(name: str) -> pathlib.Path:
    """An empty folder of this process (emptied on each call)."""
    path = _DIR / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path
