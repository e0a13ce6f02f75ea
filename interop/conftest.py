"""vsomeip 3.7.4 (built by interop/build_vsomeip.sh) against vehicle_mw in two network namespaces.

Skipped, with the reason, when vsomeip is not built; ``make interop`` builds it first.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.someip.conftest import netns, peers  # noqa: F401  (the namespace pair and vmw peers)

CACHE = pathlib.Path(
    os.environ.get("VSOMEIP_CACHE")
    or ("/var/cache/vehicle_mw/vsomeip-3.7.4" if os.geteuid() == 0 else "~/.cache/vehicle_mw/vsomeip-3.7.4")
).expanduser()
BUILD = CACHE / "build"
RESULTS = CACHE / "interop-results.jsonl"
SD_GROUP, SD_PORT = "224.224.224.245", 30490


def pytest_sessionstart(session):
    if CACHE.is_dir():
        RESULTS.unlink(missing_ok=True)  # this run's results only


def pytest_collection_modifyitems(config, items):
    if not (CACHE / ".built").exists():
        skip = pytest.mark.skip(
            reason=f"vsomeip not built in {CACHE}: run `make interop` (builds and runs this)"
        )
        for item in items:
            item.add_marker(skip)


def vsomeip_config(
    path: pathlib.Path,
    ip: str,
    app: str,
    *,
    udp: int | None = 30509,
    tcp: int | None = None,
    multicast: tuple[str, int] | None = None,
) -> pathlib.Path:
    """A vsomeip JSON config: one application that is its own routing manager, SD on SD_GROUP."""
    service: dict = {"service": "0x1234", "instance": "0x5678"}
    if udp:
        service["unreliable"] = str(udp)
    if tcp:
        service["reliable"] = {"port": str(tcp), "enable-magic-cookies": "false"}
    if multicast:  # notify-sample's field, to the group from the first subscriber on
        service["events"] = [{"event": "0x8778", "is_field": "true"}]
        service["eventgroups"] = [
            {"eventgroup": "0x4465", "events": ["0x8778"], "threshold": "1",
             "multicast": {"address": multicast[0], "port": str(multicast[1])}}
        ]  # fmt: skip
    config = {
        "unicast": ip,
        "logging": {"level": "info", "console": "true", "file": {"enable": "false"}, "dlt": "false"},
        "applications": [{"name": app, "id": "0x1277"}],
        "services": [service] if (udp or tcp) else [],
        "routing": app,
        "network": f"vsomeip-{app}-{os.getpid()}",  # own routing socket names per run
        "service-discovery": {
            "enable": "true", "multicast": SD_GROUP, "port": str(SD_PORT), "protocol": "udp",
            "initial_delay_min": "10", "initial_delay_max": "50", "repetitions_base_delay": "100",
            "repetitions_max": "3", "ttl": "3", "cyclic_offer_delay": "1000",
            "request_response_delay": "1500",
        },
    }  # fmt: skip
    path.write_text(json.dumps(config, indent=1))
    return path


class VsomeipApp:
    """One vsomeip example binary in a namespace; its stdout lines are kept (thread) for counting."""

    def __init__(self, pair: Any, ns: str, binary: str, config: pathlib.Path, app: str, *args: str):
        env = dict(
            os.environ,
            LD_LIBRARY_PATH=str(BUILD),
            VSOMEIP_CONFIGURATION=str(config),
            VSOMEIP_APPLICATION_NAME=app,
        )
        self.proc = subprocess.Popen(
            [*pair.exec_prefix(ns), str(BUILD / "examples" / binary), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def count_after(self, marker: str, text: str) -> int:
        """Lines with ``text`` after the first line with ``marker`` (vsomeip logs to the same stdout)."""
        lines = list(self.lines)
        start = next((i for i, line in enumerate(lines) if marker in line), len(lines))
        return sum(1 for line in lines[start:] if text in line)

    def count(self, text: str) -> int:
        return sum(1 for line in list(self.lines) if text in line)

    def wait_count(self, text: str, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.count(text) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count(text)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture
def vsomeip(netns, tmp_path):  # noqa: F811
    """Factory: ``vsomeip(side, binary, *args, udp=.., tcp=..)``; every app stopped afterwards."""
    apps: list[VsomeipApp] = []

    def start(side: str, binary: str, *args: str, **ports: Any) -> VsomeipApp:
        ns, ip = (netns.ns_a, netns.ip_a) if side == "a" else (netns.ns_b, netns.ip_b)
        app = binary.replace("-sample", "")
        config = vsomeip_config(tmp_path / f"{app}.json", ip, app, **ports)
        apps.append(VsomeipApp(netns, ns, binary, config, app, *args))
        return apps[-1]

    yield start
    for app in apps:
        app.close()


def record(test: str, **counts: Any) -> None:
    """Append one result line (sent vs received counts) to RESULTS; `make interop` prints them."""
    with RESULTS.open("a") as out:
        out.write(
            json.dumps({"test": test, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **counts})
            + "\n"
        )
