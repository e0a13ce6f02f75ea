"""A deployment: the machine manifest, the channel manifest and the SOME/IP services it consumes.

Everything the runtime assembles comes from here, with relative paths resolved against the file
that names them, so the same manifests work from any working directory (and under systemd).
"""

from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass

from vehicle_mw.manifest import ManifestError, load_manifest
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.manifest.channel import ChannelConfig
from vehicle_mw.manifest.machine import MachineManifest
from vehicle_mw.manifest.someip import SomeIpService

ENV_MACHINE = "VMW_MACHINE_MANIFEST"  # set by the execution manager for every application
ENV_CHANNEL = "VMW_CHANNEL_MANIFEST"  # overrides the machine manifest's runtime.channel


@dataclass(frozen=True)
class ServiceManifest:
    """One SOME/IP service instance the runtime consumes, and the file it came from."""

    path: pathlib.Path
    field: str  # where the machine manifest names it, e.g. someip[0]
    service: SomeIpService


@dataclass(frozen=True)
class Deployment:
    """The manifests of one vehicle runtime, loaded and cross-checked."""

    machine: MachineManifest
    machine_path: pathlib.Path
    channel: ChannelConfig
    channel_path: pathlib.Path
    services: tuple[ServiceManifest, ...] = ()

    @property
    def name(self) -> str:
        """Deployment name as used in ring names (characters other than [A-Za-z0-9_.-] become _)."""
        return self.state_dir_of(self.machine, self.machine_path).name

    @property
    def base_dir(self) -> pathlib.Path:
        return self.machine_path.parent

    @property
    def buses(self) -> list[CanBus]:
        return list(self.machine.can)

    @property
    def state_dir(self) -> pathlib.Path:
        """Where the stages publish their counters (``vmw vehicle status``): state_dir/<deployment>."""
        return self.state_dir_of(self.machine, self.machine_path)

    @staticmethod
    def state_dir_of(machine: MachineManifest, machine_path: str | os.PathLike[str]) -> pathlib.Path:
        """The counters folder of a machine manifest, without loading the rest of the deployment."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", machine.deployment)
        return _resolve(pathlib.Path(machine_path).resolve().parent, machine.runtime.state_dir) / name

    def bus_file(self, bus_id: int) -> pathlib.Path:
        """The replayed log of a replay bus, resolved against the machine manifest."""
        return _resolve(self.base_dir, self.machine.can[bus_id].file or "")

    def field(self, bus_id: int, key: str = "") -> str:
        """``machine.yaml: can[1].databases`` -- how errors name where a bus is declared."""
        return (
            f"{self.machine_path}: can[{bus_id}]{'.' + key if key else ''} ({self.machine.can[bus_id].name})"
        )


def _resolve(base: pathlib.Path, path: str) -> pathlib.Path:
    p = pathlib.Path(path)
    return p if p.is_absolute() else base / p


def _channel_resolved(cfg: ChannelConfig, base: pathlib.Path) -> ChannelConfig:
    """Outbox folder and TLS files relative to the channel manifest's folder."""
    outbox = cfg.outbox.model_copy(update={"directory": str(_resolve(base, cfg.outbox.directory))})
    update: dict[str, object] = {"outbox": outbox}
    if cfg.tls is not None:
        tls = {
            k: str(_resolve(base, v))
            for k in ("ca_file", "cert_file", "key_file")
            if (v := getattr(cfg.tls, k)) is not None
        }
        update["tls"] = cfg.tls.model_copy(update=tls)
    return cfg.model_copy(update=update)


def load_deployment(
    machine: str | os.PathLike[str], channel: str | os.PathLike[str] | None = None
) -> Deployment:
    """Load the machine manifest, its channel manifest (argument, $VMW_CHANNEL_MANIFEST or
    ``runtime.channel``) and the SOME/IP services it lists. ManifestError names file and field."""
    machine_path = pathlib.Path(machine).resolve()
    m = load_manifest(machine_path, MachineManifest)
    base = machine_path.parent
    if channel is None and os.environ.get(ENV_CHANNEL):
        channel, where = os.environ[ENV_CHANNEL], ENV_CHANNEL
    elif channel is None and m.runtime.channel:
        channel, where = str(_resolve(base, m.runtime.channel)), "runtime.channel"
    else:
        where = "--channel"
    if channel is None:
        raise ManifestError(
            str(machine_path), [("runtime.channel", "no channel manifest (set it here or pass --channel)")]
        )
    channel_path = pathlib.Path(channel).resolve()
    if not channel_path.is_file():
        raise ManifestError(str(machine_path), [(where, f"channel manifest {channel_path} not found")])
    cfg = _channel_resolved(load_manifest(channel_path, ChannelConfig), channel_path.parent)
    services = []
    for i, rel in enumerate(m.someip):
        path = _resolve(base, rel).resolve()
        if not path.is_file():
            raise ManifestError(str(machine_path), [(f"someip[{i}]", f"service manifest {path} not found")])
        services.append(ServiceManifest(path, f"someip[{i}]", load_manifest(path, SomeIpService)))
    _check_sources(machine_path, m, services)
    return Deployment(m, machine_path, cfg, channel_path, tuple(services))


def _check_sources(path: pathlib.Path, m: MachineManifest, services: list[ServiceManifest]) -> None:
    """A sample's source_id says where it came from: CAN buses are 0..n-1, services must not clash."""
    problems = []
    seen = {i: f"can[{i}]" for i in range(len(m.can))}
    for s in services:
        sid = s.service.source_id
        if sid in seen:
            problems.append((f"{s.field}", f"{s.path.name}: source_id {sid} is also used by {seen[sid]}"))
        seen[sid] = s.field
    if problems:
        raise ManifestError(str(path), problems)


__all__ = ["ENV_CHANNEL", "ENV_MACHINE", "Deployment", "ServiceManifest", "load_deployment"]
