"""Packages for the execution manager: supervised apps (heartbeats, report running) per release.

Each app appends "<app> r<release> <event> <pid>" to $UPDATE_TEST_LOG, so a test sees from the
processes' side which version of which app runs. ``mode`` picks how a release misbehaves.
"""

from __future__ import annotations

import pathlib
import tarfile

import yaml
from update_rig import add

APP_SOURCE = '''"""Release {release} (mode {mode}), run by the execution manager from its version folder."""
import os
import signal
import threading
import time

from vehicle_mw.exec import client

RELEASE = {release}
MODE = {mode!r}


def _log(event):
    line = f"{{client.app_name()}} r{{RELEASE}} {{event}} {{os.getpid()}}\\n"
    fd = os.open(os.environ["UPDATE_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    _log("start")
    if MODE == "silent":  # never reports running: the startup timeout catches it
        stop.wait()
        return 0
    client.report_running()
    _log("running")
    t0 = time.monotonic()
    while not stop.wait(0.02):
        late = time.monotonic() - t0 > 0.3
        if MODE == "crash" and late:
            _log("crash")
            return 3
        if MODE == "hang" and late:  # main loop stuck: alive supervision catches it
            continue
        client.heartbeat()
    _log("exit")
    return 0
'''


def app_entry(name: str, module: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "entry": {"function": f"{module}:main"},
        "function_group": "Main",
        "states": ["Driving"],
        "startup_timeout": 3.0,
        "stop_timeout": 3.0,
        "supervision": {"alive": {"window": 0.4, "min": 1}},
        **extra,
    }


def exec_package(
    path: pathlib.Path, app: str, release: int, mode: str = "good", **extra: object
) -> pathlib.Path:
    """An app package with one supervised application ``app`` (module ``<app>_main``)."""
    module = app.replace("-", "_") + "_main"
    manifest = {"applications": [app_entry(app, module, **extra)]}
    with tarfile.open(path, "w:gz") as tf:
        add(tf, "manifest.yaml", yaml.safe_dump(manifest).encode())
        add(tf, f"{module}.py", APP_SOURCE.format(release=release, mode=mode).encode())
    return path


MACHINE = {
    "name": "update-ecu",
    "function_groups": [{"name": "Main", "states": ["Off", "Driving", "Parked"], "initial": "Driving"}],
}

BASE_APP = '''"""The machine's own app (not from a package); restarted only when its configuration changes."""
import os
import signal
import threading

from vehicle_mw.exec import client


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    dbc = os.environ.get("DBC")
    text = open(dbc).read().strip() if dbc and os.path.exists(dbc) else "-"
    fd = os.open(os.environ["UPDATE_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{client.app_name()} base {text} {os.getpid()}\\n".encode())
    os.close(fd)
    client.report_running()
    while not stop.wait(0.02):
        client.heartbeat()
    return 0
'''


def write_machine(folder: pathlib.Path, install_root: pathlib.Path) -> pathlib.Path:
    """execution.yaml + machine.yaml: ``base`` (reads no configuration) and ``decoder`` (reads the DBC)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "machine.yaml").write_text(yaml.safe_dump(MACHINE))
    (folder / "base_app.py").write_text(BASE_APP)
    dbc = install_root.resolve() / "slots" / "tcu1" / "powertrain" / "current" / "powertrain.dbc"
    apps = [
        app_entry("base", "base_app"),
        app_entry("decoder", "base_app", env={"DBC": str(dbc)}),
    ]
    path = folder / "execution.yaml"
    path.write_text(yaml.safe_dump({"machine": "machine.yaml", "applications": apps}))
    return path


def log_lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def is_running(pid: int, log: pathlib.Path) -> bool:
    """Process ``pid`` is one of this test's apps (its environment names ``log``) and not a zombie.

    The environment check matters: pid_max may be 32768, and other processes reuse pids quickly.
    """
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if f"UPDATE_TEST_LOG={log}".encode() not in environ.split(b"\0"):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def running_versions(log: pathlib.Path, skip: int = 0) -> dict[str, set[str]]:
    """App -> the releases ('r2', or 'base') of its processes logged (after line ``skip``) that still run."""
    out: dict[str, set[str]] = {}
    for line in log_lines(log)[skip:]:
        words = line.split()
        if is_running(int(words[-1]), log):
            out.setdefault(words[0], set()).add(words[1])
    return out
