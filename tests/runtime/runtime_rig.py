"""A real local gateway on SQLite in a background thread, manifests written for a test, and the
expected values of a trace computed with cantools (the reference the runtime is judged against)."""

from __future__ import annotations

import asyncio
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Callable

import can
import cantools
import yaml

from vehicle_mw.gateway import Gateway
from vehicle_mw.manifest.gateway import GatewayConfig

DEMO_DATA = pathlib.Path(__file__).resolve().parents[2] / "vehicle_mw" / "demo" / "data"
GNSS_TRACE = DEMO_DATA / "gnss_drive.log"
GNSS_DBC = DEMO_DATA / "gnss.dbc"
VEHICLE = "VMWTEST0000000001"


class LocalGateway:
    """vehicle_mw.gateway.Gateway (anonymous vehicles allowed, loopback only) on its own loop."""

    def __init__(self, folder: pathlib.Path):
        self.database = folder / "gateway.sqlite"
        self.config = GatewayConfig(
            gateway_id="gw-test",
            database=str(self.database),
            grpc_port=0,
            ws_port=0,
            http_port=None,  # the tests read SQLite directly; no REST/dashboard needed
            sqlite_synchronous="normal",
            allow_anonymous=True,
        )
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gateway: Gateway | None = None
        self._thread = threading.Thread(target=self._run, name="test-gateway", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with Gateway(self.config) as gw:
                self.gateway = gw
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self._ready.set()

    def __enter__(self) -> LocalGateway:
        self._thread.start()
        assert self._ready.wait(30), "gateway did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    @property
    def grpc_target(self) -> str:
        return self.gateway.grpc_target

    @property
    def ws_url(self) -> str:
        return self.gateway.ws_url

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return query(self.database, sql, args)

    def sample_count(self) -> int:
        return self.query("SELECT COUNT(*) FROM samples")[0][0]


def query(database: pathlib.Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a gateway database (read from outside the gateway, e.g. across network namespaces)."""
    conn = sqlite3.connect(database, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def run_name(deployment: str) -> str:
    """The deployment name as this test process uses it: rings are named after the deployment, so a
    run killed earlier (its rings kept, as a real deployment's are) must not hand them to this one."""
    return f"{deployment}-p{os.getpid()}"


def write_manifests(
    folder: pathlib.Path,
    gateway: LocalGateway,
    buses: list[dict],
    *,
    deployment: str,
    someip: list[str] | None = None,
    outbox_fsync: str = "none",
) -> tuple[pathlib.Path, pathlib.Path]:
    """A machine manifest with ``buses`` and a channel manifest pointing at ``gateway``."""
    folder.mkdir(parents=True, exist_ok=True)
    channel = {
        "vehicle_id": VEHICLE,
        "grpc_target": gateway.grpc_target,
        "websocket_url": gateway.ws_url,
        "outbox": {"directory": "outbox", "fsync": outbox_fsync},
        "status_interval_s": 0.5,
    }
    machine = {
        "name": "test-ecu",
        "function_groups": [{"name": "Vehicle", "states": ["Running"], "initial": "Running"}],
        "can": buses,
        "someip": someip or [],
        "runtime": {
            "deployment": run_name(deployment),
            "channel": "channel.yaml",
            "state_dir": str(folder / "state"),
        },
    }
    (folder / "channel.yaml").write_text(yaml.safe_dump(channel))
    (folder / "machine.yaml").write_text(yaml.safe_dump(machine))
    return folder / "machine.yaml", folder / "channel.yaml"


def expected_samples(trace: pathlib.Path, dbc: pathlib.Path, *, strict: bool = True) -> dict[int, int]:
    """seq -> number of signal values cantools decodes from frame ``seq`` of the trace."""
    db = cantools.database.load_file(str(dbc), strict=strict)
    known = {(m.frame_id, bool(m.is_extended_frame)): m for m in db.messages}
    out = {}
    for seq, frame in enumerate(can.LogReader(str(trace))):
        if frame.is_error_frame or frame.is_remote_frame:
            continue
        msg = known.get((frame.arbitration_id, frame.is_extended_id))
        if msg is None or len(frame.data) < msg.length:
            continue
        try:
            n = len(msg.decode(bytes(frame.data), decode_choices=False))
        except Exception:  # noqa: BLE001 - cantools refuses the frame: its signals are not expected
            continue
        if n:
            out[seq] = n
    return out


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def shm_segments(deployment: str) -> list[str]:
    return sorted(e for e in os.listdir("/dev/shm") if e.startswith(f"vmw.{run_name(deployment)}."))


def stored_by_source(gw: LocalGateway) -> dict[int, dict[int, int]]:
    """source_id -> {source_seq: samples stored}."""
    out: dict[int, dict[int, int]] = {}
    for sid, seq, n in gw.query("SELECT source_id, source_seq, COUNT(*) FROM samples GROUP BY 1, 2"):
        out.setdefault(sid, {})[seq] = n
    return out


def duplicates(gw: LocalGateway) -> int:
    return gw.query(
        "SELECT COUNT(*) - COUNT(DISTINCT source_id || ':' || source_seq || ':' || signal_id) FROM samples"
    )[0][0]


def write_execution(folder: pathlib.Path, stages: list[str], *, stop_timeout: float = 15.0) -> pathlib.Path:
    """An execution manifest running each stage as its own supervised process, restarted fast."""
    apps = []
    previous = None
    for stage in stages:  # consumers first: a stage starts once the one it feeds runs
        apps.append(
            {
                "name": stage,
                "entry": {"function": "vehicle_mw.runtime.stage_main:main", "args": [stage]},
                "function_group": "Vehicle",
                "states": ["Running"],
                "depends_on": [previous] if previous else [],
                "startup_timeout": 60,
                "stop_timeout": stop_timeout,
                "supervision": {
                    "checkpoints": ["poll_start", "poll_end"],
                    "alive": {"window": 2.0, "min": 2},
                    "deadline": [{"start": "poll_start", "end": "poll_end", "max": 2.0}],
                    "logical": {
                        "initial": ["poll_start"],
                        "transitions": {"poll_start": ["poll_end"], "poll_end": ["poll_start"]},
                    },
                },
                "restart": {"initial_delay": 0.02, "max_delay": 0.1, "jitter": 0, "max_restarts": 100000},
            }
        )
        previous = stage
    path = folder / "execution.yaml"
    path.write_text(yaml.safe_dump({"machine": "machine.yaml", "applications": apps}))
    return path


def expected_values(
    trace: pathlib.Path, dbc: pathlib.Path, *, strict: bool = True
) -> dict[tuple[int, str], float]:
    """(seq, 'Message.Signal') -> value, as cantools decodes the trace (scaled, no choice labels)."""
    db = cantools.database.load_file(str(dbc), strict=strict)
    known = {(m.frame_id, bool(m.is_extended_frame)): m for m in db.messages}
    out = {}
    for seq, frame in enumerate(can.LogReader(str(trace))):
        msg = known.get((frame.arbitration_id, frame.is_extended_id))
        if frame.is_error_frame or frame.is_remote_frame or msg is None or len(frame.data) < msg.length:
            continue
        try:
            decoded = msg.decode(bytes(frame.data), decode_choices=False)
        except Exception:  # noqa: BLE001 - cantools refuses the frame: nothing expected from it
            continue
        for name, value in decoded.items():
            out[(seq, f"{msg.name}.{name}")] = float(value)
    return out


def stored_values(gw: LocalGateway, source_id: int) -> dict[tuple[int, str], float]:
    rows = gw.query(
        "SELECT s.source_seq, g.name, COALESCE(s.int_value, s.value) FROM samples s "
        "JOIN signals g ON g.signal_id = s.signal_id AND g.vehicle_key = s.vehicle_key WHERE s.source_id = ?",
        (source_id,),
    )
    return {(seq, name): float(v) for seq, name, v in rows}
