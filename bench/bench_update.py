"""Secure updates: verification cost next to a plain ngclient refresh, bytes per vehicle, fleet time.

    python -m bench.bench_update            # tiny smoke run (1 and 5 vehicles)
    python -m bench.bench_update --full     # 1 and 200 vehicles

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
