"""A real update world for the tests: Image repo, Director, HTTP server on loopback, one vehicle."""

from __future__ import annotations

import datetime as dt
import io
import os
import pathlib
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from typing import Any

from vehicle_mw.update import (
    Director,
    ImageRepository,
    Installer,
    KeyDir,
    Package,
    UpdateClient,
    UpdateServer,
    VehicleConfig,
    VehicleKey,
    provision,
)
from vehicle_mw.update.repository import utc_now

VIN = "VIN0001"
ECUS = {"tcu1": "tcu-hw", "brk1": "brake-hw"}
ROOT = pathlib.Path(__file__).resolve().parents[2]


def app_manifest(name: str = "tele-app") -> bytes:
    return (
        "applications:\n"
        f"  - name: {name}\n"
        "    entry: {executable: python3, args: [app.py]}\n"
        "    function_group: Main\n"
        "    states: [Driving]\n"
    ).encode()


def app_script(release: int, exit_code: int | None = None) -> bytes:
    """A tiny application: writes its release to $OUT, then runs (or exits with ``exit_code``)."""
    if exit_code is not None:
        return f"import sys\nsys.exit({exit_code})\n".encode()
    return (
        "import os, pathlib, signal, time\n"
        f"pathlib.Path(os.environ['OUT']).write_text('{release}')\n"
        "signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
        "while True:\n    time.sleep(1)\n"
    ).encode()


def add(
    tf: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if name.endswith(".py") else 0o644
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_package(
    path: pathlib.Path, release: int, exit_code: int | None = None, payload: int = 0, files: int = 3
) -> pathlib.Path:
    """An app package: manifest.yaml, app.py, ``files`` files naming the release, ``payload`` random bytes."""
    with tarfile.open(path, "w:gz") as tf:
        add(tf, "manifest.yaml", app_manifest())
        add(tf, "app.py", app_script(release, exit_code))
        for i in range(files):
            add(tf, f"data/file{i}.txt", f"release {release} file {i}\n".encode())
        if payload:
            add(tf, "data/payload.bin", os.urandom(payload))
    return path


def package_files(directory: pathlib.Path) -> dict[str, bytes]:
    """Every file below ``directory`` (relative path -> content), the version's marker excluded."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".vmw-target.json"
    }


def archive_files(path: pathlib.Path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]


class Rig:
    """Repositories under ``tmp/repo`` served on loopback; vehicle ``VIN`` with ``ECUS``."""

    def __init__(self, tmp: pathlib.Path, start_server: bool = True) -> None:
        self.tmp = tmp
        self.repo = tmp / "repo"
        self.keys = KeyDir(tmp / "offline-keys")
        self.image = ImageRepository(self.repo / "image", self.keys)
        self.director = Director(self.repo / "director")
        if not (self.repo / "image" / "metadata" / "root.json").exists():
            self.image.init()
            self.director.init()
        self.state = tmp / "vehicle" / "state"
        self.install_root = tmp / "vehicle" / "install"
        if not (self.state / "vehicle.key").exists():
            key = VehicleKey(self.state)
            self.director.register(VIN, key.public_pem(), ECUS)
            provision(self.state, self.director.root_bytes(), self.image.root_bytes())
        self.server = UpdateServer(self.repo).start() if start_server else None
        self.packages = tmp / "packages"
        self.packages.mkdir(exist_ok=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def publish(self, release: int, **kw: Any) -> str:
        pkg = make_package(self.packages / f"tele-{release}.tar.gz", release, **kw)
        return self.image.publish(pkg, "tcu-hw", release, name="tele").path

    def assign(self, path: str) -> None:
        self.director.assign([VIN], path, self.image)

    def config(self, **kw: Any) -> VehicleConfig:
        return VehicleConfig.for_server(self.url, VIN, ECUS, self.state, **kw)

    def installer(self, **kw: Any) -> Installer:
        return Installer(self.install_root, **kw)

    def client(self, **kw: Any) -> UpdateClient:
        fetcher = kw.pop("fetcher", None)
        installer = kw.pop("installer", None) or self.installer()
        return UpdateClient(self.config(**kw), installer, fetcher)

    def current_release(self) -> int | None:
        pkg = self.installer().current("tcu1", "tele")
        return pkg.release if pkg else None

    def image_target_file(self, path: str) -> pathlib.Path:
        """Where the server keeps a target's bytes (what an attacker on the server replaces)."""
        info = self.image.targets()[path]
        name, release, file = path.split("/")
        return self.repo / "image" / "targets" / name / release / f"{info.hashes['sha256']}.{file}"


def past_clock(days: float) -> Any:
    return lambda: utc_now() - dt.timedelta(days=days)


class ProcessHook:
    """An activation hook that runs each package application as a real process from its version folder."""

    def __init__(self, out_dir: pathlib.Path) -> None:
        self.out_dir = out_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log: list[str] = []

    def stop(self, packages: Sequence[Package]) -> None:
        for pkg in reversed(packages):
            for app in reversed(pkg.applications):
                proc = self.procs.pop(app.name, None)
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)
                    self.log.append(f"stop {app.name} r{pkg.release}")

    def start(self, packages: Sequence[Package]) -> None:
        for pkg in packages:
            for app in pkg.applications:
                assert app.entry.executable == "python3"
                out = self.out_dir / f"{app.name}.out"
                out.unlink(missing_ok=True)
                self.procs[app.name] = subprocess.Popen(
                    [sys.executable, *app.entry.args], cwd=pkg.directory, env={**os.environ, "OUT": str(out)}
                )
                self.log.append(f"start {app.name} r{pkg.release}")

    def reload(self, packages: Sequence[Package]) -> None:
        self.log.extend(f"reload {p.name} r{p.release}" for p in packages)

    def health(self, packages: Sequence[Package], timeout: float = 30.0) -> bool:
        """Healthy when every app of the new packages wrote its release and is still running.

        Waits (bounded) for the first signal: the app's report, or its exit.
        """
        deadline = time.monotonic() + timeout
        for pkg in packages:
            for app in pkg.applications:
                proc, out = self.procs[app.name], self.out_dir / f"{app.name}.out"
                while (
                    not (out.exists() and out.read_text()) and proc.poll() is None
                ):  # written, not just made
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.01)
                if proc.poll() is not None or out.read_text() != str(pkg.release):
                    return False
        return True

    def shutdown(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)
        self.procs.clear()
