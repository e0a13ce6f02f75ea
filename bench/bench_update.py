"""Secure updates: verification cost next to a plain ngclient refresh, bytes per vehicle, fleet time.

    python -m bench.bench_update            # tiny smoke run (1 and 5 vehicles)
    python -m bench.bench_update --full     # 1 and 200 vehicles

Rows: HTTP fleet (assignment -> installed, in-process vehicles, 8 at a time); one vehicle whose
execution manager runs the new version (assignment -> new app reported running and healthy);
the push over the vehicle link (a real gateway, one real Uplink per vehicle over WebSocket:
assignment -> installed, payload bytes and commands per vehicle; 1 and 5, --full: 1 and 50).

Prints its numbers; it writes no results section (timings on a shared machine are not valid).
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import statistics
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from tuf.ngclient import Updater

from vehicle_mw.update import (
    CountingFetcher,
    Director,
    ImageRepository,
    Installer,
    KeyDir,
    NullHook,
    UpdateClient,
    UpdateServer,
    VehicleConfig,
    VehicleKey,
    provision,
)

ECUS = {"tcu1": "tcu-hw"}


def package(path: pathlib.Path, release: int, payload: int) -> pathlib.Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in (
            ("manifest.yaml", b"applications: []\n"),
            ("app.py", f"RELEASE = {release}\n".encode()),
            ("data.bin", os.urandom(payload)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


class Fleet:
    def __init__(self, tmp: pathlib.Path, vehicles: int) -> None:
        self.tmp = tmp
        self.image = ImageRepository(tmp / "repo" / "image", KeyDir(tmp / "keys"))
        self.image.init()
        self.director = Director(tmp / "repo" / "director")
        self.director.init()
        self.vins = [f"VIN{i:05d}" for i in range(vehicles)]
        for vin in self.vins:
            state = tmp / "v" / vin / "state"
            self.director.register(vin, VehicleKey(state).public_pem(), ECUS)
            provision(state, self.director.root_bytes(), self.image.root_bytes())
        self.server = UpdateServer(tmp / "repo").start()

    def client(self, vin: str, fetcher: CountingFetcher | None = None) -> UpdateClient:
        cfg = VehicleConfig.for_server(self.server.url, vin, ECUS, self.tmp / "v" / vin / "state")
        return UpdateClient(cfg, Installer(self.tmp / "v" / vin / "install"), fetcher)


def verification(fleet: Fleet, path: str, rounds: int) -> tuple[float, float]:
    """Median seconds of UpdateClient.check() vs two plain Updater.refresh() from empty caches."""
    vin = fleet.vins[0]
    full, plain = [], []
    for i in range(rounds):
        state = fleet.tmp / "verify" / str(i)
        provision(state, fleet.director.root_bytes(), fleet.image.root_bytes())
        cfg = VehicleConfig.for_server(fleet.server.url, vin, ECUS, state)
        client = UpdateClient(cfg, Installer(fleet.tmp / "verify-install" / str(i)))
        t0 = time.perf_counter()
        assert client.check()
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for repo, url in (("director", cfg.director_url), ("image", cfg.image_metadata_url)):
            folder = fleet.tmp / "plain" / str(i) / repo
            folder.mkdir(parents=True)
            root = fleet.director.root_bytes() if repo == "director" else fleet.image.root_bytes()
            updater = Updater(str(folder), url, bootstrap=root)
            updater.refresh()
            if repo == "image":
                updater.get_targetinfo(path)
        plain.append(time.perf_counter() - t0)
    return statistics.median(full), statistics.median(plain)


def _cycle(fleet: Fleet, vin: str, counter: CountingFetcher) -> str:
    return fleet.client(vin, counter).update(NullHook()).status


APP_MODULE = b"""
import signal, threading
from vehicle_mw.exec import client

def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    client.report_running()
    while not stop.wait(0.02):
        client.heartbeat()
    return 0
"""


def exec_package(path: pathlib.Path, release: int, payload: int) -> pathlib.Path:
    """A package with one supervised app (reports running, heartbeats) the execution manager runs."""
    manifest = (
        b"applications:\n  - name: tele-app\n    entry: {function: 'tele_main:main'}\n"
        b"    function_group: Main\n    states: [Driving]\n"
        b"    supervision: {alive: {window: 0.5, min: 1}}\n"
    )
    with tarfile.open(path, "w:gz") as tf:
        for name, data in (
            ("manifest.yaml", manifest),
            ("tele_main.py", APP_MODULE),
            ("data.bin", os.urandom(payload)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def exec_row(tmp: pathlib.Path, payload: int) -> None:
    """One vehicle, the real execution manager: assignment -> release 2 running and healthy."""
    import yaml

    from vehicle_mw.exec import ExecutionManager
    from vehicle_mw.exec.updates import ManagerActivation, attach_installed

    fleet = Fleet(tmp, 1)
    try:
        machine = tmp / "machine"
        machine.mkdir()
        (machine / "machine.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": "b",
                    "function_groups": [{"name": "Main", "states": ["Driving"], "initial": "Driving"}],
                }
            )
        )
        (machine / "tele_main.py").write_bytes(APP_MODULE)
        base = {
            "name": "base",
            "entry": {"function": "tele_main:main"},
            "function_group": "Main",
            "states": ["Driving"],
        }
        (machine / "execution.yaml").write_text(
            yaml.safe_dump({"machine": "machine.yaml", "applications": [base]})
        )
        vin = fleet.vins[0]
        marks: dict[str, float] = {}
        installer = Installer(
            tmp / "v" / vin / "install", checkpoint=lambda n: marks.setdefault(n, time.perf_counter())
        )
        manager = ExecutionManager.from_file(machine / "execution.yaml")
        attach_installed(manager, installer)
        manager.start()
        try:
            manager.wait_for(lambda s: s["apps"]["base"]["state"] == "running", 30)
            cfg = VehicleConfig.for_server(fleet.server.url, vin, ECUS, tmp / "v" / vin / "state")
            for release in (1, 2):
                marks.clear()
                pkg = exec_package(tmp / f"tele-{release}.tar.gz", release, payload)
                path = fleet.image.publish(pkg, "tcu-hw", release, name="tele").path
                t0 = time.perf_counter()
                fleet.director.assign([vin], path, fleet.image)
                activation = ManagerActivation(manager)
                outcome = UpdateClient(cfg, installer).update(activation, activation.health, grace_s=0.5)
                assert outcome.status == "activated", outcome.activation
            print(
                f"execution manager, 1 vehicle, release 1 -> 2: assignment -> new version running "
                f"{(marks['healthy'] - t0) * 1e3:.0f} ms "
                f"(installed {(marks['installed'] - t0) * 1e3:.0f} ms, "
                f"old stopped {(marks['stopped'] - t0) * 1e3:.0f} ms), committed after a 0.5 s grace period"
            )
        finally:
            manager.shutdown(timeout=30)
    finally:
        fleet.server.stop()


def link_row(tmp: pathlib.Path, vehicles: int, payload: int) -> None:
    """A real gateway pushes to ``vehicles`` real Uplinks (WebSocket); each installs from its mirror."""
    import asyncio
    import functools
    import threading

    from vehicle_mw.channel import Uplink
    from vehicle_mw.gateway import Gateway
    from vehicle_mw.manifest.channel import ChannelConfig, OutboxConfig
    from vehicle_mw.manifest.gateway import GatewayConfig
    from vehicle_mw.store import Outbox
    from vehicle_mw.update.link import LINK_BASE, LinkMirror, MirrorFetcher, push_update

    fleet = Fleet(tmp, vehicles)
    fleet.server.stop()  # the link is the only path
    done: dict[str, str] = {}
    lock = threading.Lock()

    def vehicle(vin: str) -> LinkMirror:
        state, mirror = tmp / "v" / vin / "state", tmp / "v" / vin / "mirror"
        client = UpdateClient(
            VehicleConfig.for_server(LINK_BASE, vin, ECUS, state),
            Installer(tmp / "v" / vin / "install"),
            MirrorFetcher(mirror),
        )

        def run() -> str:
            def cycle() -> None:
                status = client.update(NullHook()).status
                with lock:
                    done[vin] = status

            pool.submit(cycle)  # 8 at a time, as the HTTP row: the gateway shares this process's GIL
            return "started"

        return LinkMirror(mirror, client.limit_for, on_run=run)

    cfg = GatewayConfig.model_validate(
        dict(
            database=str(tmp / "gw.sqlite"),
            grpc_port=0,
            ws_port=0,
            http_port=0,
            allow_anonymous=True,
            limits={"command_timeout_s": 120},  # vehicles and gateway share one process here
        )
    )
    pool = ThreadPoolExecutor(max_workers=8)

    async def scenario() -> None:
        async with Gateway(cfg) as gw:
            ups, boxes, tasks = [], [], []
            for vin in fleet.vins:
                ch = ChannelConfig(
                    vehicle_id=vin,
                    websocket_url=gw.ws_url,
                    outbox=OutboxConfig(directory=str(tmp / "ob" / vin), fsync="none"),
                )
                box = Outbox(ch.outbox.directory, ch.outbox)
                up = Uplink(ch, box, on_command=vehicle(vin).handle)
                ups.append(up)
                boxes.append(box)
                tasks.append(asyncio.create_task(up.run()))
            try:
                deadline = time.monotonic() + 60
                while not all(gw.core.vehicles.get(v) and gw.core.vehicles[v].session for v in fleet.vins):
                    assert time.monotonic() < deadline, "vehicles did not connect"
                    await asyncio.sleep(0.05)
                pkg = package(tmp / "tele.tar.gz", 1, payload)
                path = fleet.image.publish(pkg, "tcu-hw", 1, name="tele").path
                t0 = time.perf_counter()
                fleet.director.assign(fleet.vins, path, fleet.image)
                results = await asyncio.gather(
                    *(
                        push_update(functools.partial(gw.core.send_command, v), fleet.tmp / "repo", v)
                        for v in fleet.vins
                    )
                )
                while len(done) < vehicles:
                    assert time.monotonic() < deadline + 120, f"{len(done)}/{vehicles} vehicles done"
                    await asyncio.sleep(0.01)
                elapsed = time.perf_counter() - t0
                assert set(done.values()) == {"activated"}, done
                print(
                    f"link (real gateway, WebSocket), {vehicles} vehicle(s): "
                    f"assignment -> installed {elapsed:.2f} s; "
                    f"{statistics.mean(r.bytes for r in results) / 1024:.1f} KiB file bytes and "
                    f"{statistics.mean(r.commands for r in results):.0f} commands per vehicle "
                    f"(package {pkg.stat().st_size / 1024:.1f} KiB)"
                )
            finally:
                for up in ups:
                    up.stop()
                await asyncio.gather(*tasks)
                for box in boxes:
                    box.close()

    try:
        asyncio.run(scenario())
    finally:
        pool.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="200 vehicles instead of 5")
    parser.add_argument("--payload", type=int, default=256 * 1024, help="random bytes in the package")
    args = parser.parse_args(argv)
    sizes = [1, 200] if args.full else [1, 5]
    print("measured on a shared machine: indicative only")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="vmw-bench-update-") as tmp:
            fleet = Fleet(pathlib.Path(tmp), n)
            try:
                pkg = package(pathlib.Path(tmp) / "tele.tar.gz", 1, args.payload)
                path = fleet.image.publish(pkg, "tcu-hw", 1, name="tele").path
                t0 = time.perf_counter()
                fleet.director.assign(fleet.vins, path, fleet.image)
                counters = {vin: CountingFetcher() for vin in fleet.vins}

                with ThreadPoolExecutor(max_workers=8) as pool:
                    statuses = list(pool.map(lambda v, f=fleet, c=counters: _cycle(f, v, c[v]), fleet.vins))
                elapsed = time.perf_counter() - t0
                assert statuses == ["activated"] * n, statuses
                per_vehicle = statistics.mean(c.bytes for c in counters.values())
                print(
                    f"{n} vehicle(s): assignment -> installed {elapsed:.2f} s; "
                    f"{per_vehicle / 1024:.1f} KiB per vehicle per update "
                    f"(package {pkg.stat().st_size / 1024:.1f} KiB)"
                )
                if n == 1:
                    full, plain = verification(fleet, path, rounds=5 if args.full else 2)
                    print(
                        f"verification per update: {full * 1e3:.1f} ms (plain ngclient refresh of both: "
                        f"{plain * 1e3:.1f} ms)"
                    )
            finally:
                fleet.server.stop()
    with tempfile.TemporaryDirectory(prefix="vmw-bench-update-exec-") as tmp:
        exec_row(pathlib.Path(tmp), args.payload)
    # 200 Uplinks and the gateway in one process did not finish (a command to VIN00000 was never
    # acknowledged within 120 s; cause not found): the link row stops at 50 vehicles for now
    for n in [1, 50] if args.full else sizes:
        with tempfile.TemporaryDirectory(prefix="vmw-bench-update-link-") as tmp:
            link_row(pathlib.Path(tmp), n, args.payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
