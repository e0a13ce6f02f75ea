"""Machine manifest: the ECU's function groups and their states, cores, network endpoints, CAN buses.

Function groups are sets of applications switched together (AUTOSAR Adaptive
style): each group has named states (``Startup``, ``Driving``, ``Parked``,
``Diagnostics``...), an initial state, and a fallback state the execution manager
moves it to when one of its applications keeps failing.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from vehicle_mw.manifest.can import CanBus
from vehicle_mw.manifest.loading import StrictModel

NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class FunctionGroup(StrictModel):
    """A group of applications that change state together."""

    name: str = Field(pattern=NAME, description="function group name, e.g. 'Telematics'")
    states: list[str] = Field(min_length=1, description="states, e.g. [Off, Startup, Driving, Parked]")
    initial: str = Field(description="state entered when `vmw run` starts")
    fallback: str | None = Field(None, description="state entered when an application exceeds its restarts")

    @model_validator(mode="after")
    def _states_known(self) -> FunctionGroup:
        if len(set(self.states)) != len(self.states):
            raise ValueError(f"function group {self.name!r}: duplicate state names")
        for key in ("initial", "fallback"):
            value = getattr(self, key)
            if value is not None and value not in self.states:
                raise ValueError(f"{key} state {value!r} is not one of {self.states}")
        return self


class NetworkEndpoint(StrictModel):
    """A network endpoint applications on this machine use (documented here, handed to apps as env)."""

    name: str = Field(pattern=NAME)
    address: str = Field(description="IP address or host name")
    port: int | None = Field(None, ge=1, le=65535)
    interface: str | None = Field(None, description="network interface, e.g. 'eth0'")


class RuntimeSettings(StrictModel):
    """How ``vehicle_mw.runtime`` assembles this machine's vehicle pipeline (``vmw vehicle run``)."""

    deployment: str | None = Field(
        None,
        pattern=NAME,
        description="deployment name in ring names (/vmw.<deployment>.*) and metrics; default: machine name",
    )
    channel: str | None = Field(
        None, description="channel manifest (gateway, TLS, outbox, policy), relative to this file"
    )
    state_dir: str = Field(
        "/run/vehicle_mw", description="folder of the per-stage counter files `vmw vehicle status` reads"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus metrics on 127.0.0.1:<port> (none: off, 0: any port)"
    )
    metrics_address: str = Field("127.0.0.1", description="address the metrics endpoint listens on")
    frame_ring_slots: int = Field(8192, ge=64, le=1 << 24, description="frame ring capacity per bus")
    sample_ring_slots: int = Field(65536, ge=256, le=1 << 24, description="sample ring capacity per source")
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$", description="runtime log level")


class MachineManifest(StrictModel):
    """One ECU: what it has and which function groups run on it."""

    name: str = Field(description="machine name, used in logs and the systemd STATUS line")
    cores: list[int] = Field(default_factory=list, description="CPU cores applications may be pinned to")
    function_groups: list[FunctionGroup] = Field(min_length=1)
    network: list[NetworkEndpoint] = Field(default_factory=list)
    can: list[CanBus] = Field(default_factory=list, description="CAN buses; list position is the bus_id")
    someip: list[str] = Field(
        default_factory=list,
        description="SOME/IP service-instance manifests to consume (relative); their events become samples",
    )
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)

    @model_validator(mode="after")
    def _unique_names(self) -> MachineManifest:
        for what, items in (("function group", self.function_groups), ("network endpoint", self.network)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} name(s): {dupes}")
        bus_names = [b.name for b in self.can]
        if len(set(bus_names)) != len(bus_names):
            raise ValueError("duplicate CAN bus names")
        if any(c < 0 for c in self.cores) or len(set(self.cores)) != len(self.cores):
            raise ValueError("cores must be distinct non-negative CPU numbers")
        return self

    @property
    def deployment(self) -> str:
        """The deployment name: ``runtime.deployment`` or the machine name."""
        return self.runtime.deployment or self.name

    def group(self, name: str) -> FunctionGroup:
        for fg in self.function_groups:
            if fg.name == name:
                return fg
        raise KeyError(name)


__all__ = ["FunctionGroup", "MachineManifest", "NetworkEndpoint", "RuntimeSettings"]
