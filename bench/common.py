"""What every benchmark reports the same way: the machine it ran on and where its section goes."""

from __future__ import annotations

import os
import pathlib
import platform

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"


def machine_description() -> str:
    """CPU model, cores, memory, kernel and Python of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def machine_line() -> str:
    """The machine plus its 1-minute load average now, so a reader can tell a quiet run from a busy one."""
    return f"{machine_description()}; load average {os.getloadavg()[0]:.2f} when the section was written"


def write_section(name: str, text: str) -> pathlib.Path:
    """Write ``bench/results/<name>.md`` (assembled into BENCHMARKS.md by ``python -m bench``)."""
    path = RESULTS_DIR / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path
