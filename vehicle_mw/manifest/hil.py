"""HIL bench and scenario files: what is on the bench, and what happens to it on a timeline.

A *bench* names the CAN buses (python-can ``virtual`` here, any interface on a real bench), the
signal databases, the ECUs the harness simulates (restbus from the DBC cycle times) and the device
under test. A *scenario* is a list of timed steps (replay, set a signal, faults, link impairment)
and the assertions that judge the run. Relative file paths are relative to the YAML file.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Literal

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import StrictModel


class BenchBus(StrictModel):
    """One CAN bus of the bench; its position in ``buses`` is its bus id."""

    name: str = Field(min_length=1, description="bus name used by ECUs, steps and assertions")
    interface: str = Field("virtual", description="python-can interface: virtual, socketcan, pcan, ...")
    channel: str = Field(min_length=1, description="interface channel, e.g. 'can0' or a virtual channel name")
    bitrate: int | None = Field(
        None, gt=0, description="nominal bitrate in bit/s (where the interface sets it)"
    )
    databases: list[str] = Field(
        default_factory=list, description="DBC/ARXML/KCD/SYM files describing this bus"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="extra python-can Bus keyword arguments"
    )


class SimulatedEcu(StrictModel):
    """An ECU that is not on the bench: the harness sends its periodic messages (restbus)."""

    name: str = Field(min_length=1, description="ECU name used by steps")
    bus: str = Field(description="bus the ECU sends on")
    messages: list[str] = Field(
        default_factory=list,
        description="messages it sends; empty: every message whose DBC senders include the ECU name",
    )
    cycle_ms: dict[str, float] = Field(
        default_factory=dict,
        description="message -> period in ms, overriding or filling in the DBC cycle time",
    )
    signals: dict[str, float] = Field(
        default_factory=dict,
        description="'Message.Signal' -> start value (default: DBC initial value, else 0 clamped to range)",
    )


class DeviceUnderTest(StrictModel):
    """The vehicle_mw runtime reading every bench bus: CAN ingest + native decoder, optionally uplinked."""

    uplink: bool = Field(
        False,
        description="also append samples to a durable outbox and uplink them (gRPC/WebSocket, each "
        "through a link_proxy) to a local gateway on SQLite",
    )
    vehicle_id: str = Field("VMW-HIL-0001", min_length=1, description="vehicle identity on the uplink")
    probe_interval_s: float = Field(0.1, gt=0, description="uplink probe period (link health measurement)")


class BenchConfig(StrictModel):
    """A HIL bench file (``hil/benches/*.yaml``)."""

    name: str = Field(min_length=1)
    buses: list[BenchBus] = Field(min_length=1)
    ecus: list[SimulatedEcu] = Field(default_factory=list)
    dut: DeviceUnderTest = Field(default_factory=DeviceUnderTest)

    @model_validator(mode="after")
    def _names_resolve(self) -> BenchConfig:
        names = [b.name for b in self.buses]
        if len(set(names)) != len(names):
            raise ValueError(f"bus names must be unique, got {names}")
        for ecu in self.ecus:
            if ecu.bus not in names:
                raise ValueError(f"ecu {ecu.name!r}: unknown bus {ecu.bus!r} (buses: {names})")
        return self


# ----------------------------------------------------------------------------- scenario steps


class ReplayStep(StrictModel):
    file: str = Field(description="CAN log (asc, blf, trc, candump .log, csv) replayed onto the bus")
    bus: str = Field(description="bench bus to send on")
    speed: float = Field(1.0, gt=0, description="timing factor: 2.0 plays twice as fast as recorded")
    max_ms: float | None = Field(None, gt=0, description="stop after this much scenario time")


class SetSignalStep(StrictModel):
    ecu: str
    signal: str = Field(description="'Message.Signal'")
    value: float


class DropMessageStep(StrictModel):
    ecu: str
    message: str
    for_ms: float = Field(gt=0, description="how long the message is not sent")


class StopEcuStep(StrictModel):
    ecu: str
    for_ms: float | None = Field(None, gt=0, description="restart after this long; null: stays silent")


class ErrorFramesStep(StrictModel):
    bus: str
    count: int = Field(1, ge=1, le=10000)


class LinkStep(StrictModel):
    """Impair one uplink transport's proxy (see vehicle_mw.hil.link_proxy)."""

    transport: Literal["grpc", "websocket"] = Field(description="which uplink transport's proxy")
    cut: bool = Field(False, description="abort its connections now")
    refuse: bool = Field(False, description="with cut: refuse new connections until restore")
    restore: bool = Field(False, description="clear every impairment and accept connections again")
    delay_ms: float | None = Field(None, ge=0, description="one-way delay (RTT grows by twice this)")
    jitter_ms: float | None = Field(None, ge=0)
    loss: float | None = Field(None, ge=0, le=1, description="chunk loss probability (held as a retransmit)")
    stall: bool | None = None
    blackhole: bool | None = None


STEP_KINDS = ("replay", "set_signal", "drop_message", "stop_ecu", "error_frames", "link")


class Step(StrictModel):
    """One timeline step: ``at_ms`` after the start, exactly one action."""

    at_ms: float = Field(ge=0, description="scenario time of the step")
    id: str | None = Field(None, description="name assertions refer to with 'after'")
    replay: ReplayStep | None = None
    set_signal: SetSignalStep | None = None
    drop_message: DropMessageStep | None = None
    stop_ecu: StopEcuStep | None = None
    error_frames: ErrorFramesStep | None = None
    link: LinkStep | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step needs exactly one of {', '.join(STEP_KINDS)}; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def action(self) -> StrictModel:
        return getattr(self, self.kind)


# ----------------------------------------------------------------------------- assertions


class SignalReaches(StrictModel):
    signal: str = Field(description="'Message.Signal' as decoded by the device under test")
    value: float
    tolerance: float = Field(1e-6, ge=0)
    after: str = Field(description="id of the step that starts the clock")
    within_ms: float = Field(gt=0)


class MessagePeriod(StrictModel):
    bus: str
    message: str
    expected_ms: float | None = Field(None, gt=0, description="default: the ECU's cycle time")
    tolerance_pct: float = Field(20.0, gt=0, description="allowed deviation of the median period")
    max_gap_ms: float | None = Field(None, gt=0, description="also fail when any gap is longer")
    from_ms: float = Field(
        0.0, ge=0, description="window start (ms after the scenario start, or after 'after')"
    )
    to_ms: float | None = Field(None, gt=0, description="window end; null: the end of the run")
    after: str | None = Field(
        None, description="step id the window is measured from (default: scenario start)"
    )


class MessageAbsent(StrictModel):
    bus: str
    message: str
    from_ms: float = Field(ge=0, description="window start (ms after the scenario start, or after 'after')")
    to_ms: float = Field(gt=0, description="window end")
    after: str | None = Field(
        None, description="step id the window is measured from (default: scenario start)"
    )


class ErrorFramesSeen(StrictModel):
    bus: str
    at_least: int = Field(1, ge=1)


class TransportSwitch(StrictModel):
    to: Literal["grpc", "websocket"] = Field(description="transport the uplink must switch to")
    after: str = Field(description="id of the step that starts the clock")
    within_ms: float = Field(gt=0)


class Delivered(StrictModel):
    """At the end: every sample the runtime produced is stored at the gateway exactly once."""

    zero_loss: bool = True
    zero_duplicates: bool = True
    drain_within_ms: float = Field(15000.0, gt=0, description="time the outbox has to drain after the run")


ASSERTION_KINDS = (
    "signal_reaches",
    "message_period",
    "message_absent",
    "error_frames_seen",
    "transport_switch",
    "delivered",
)


class Assertion(StrictModel):
    name: str = Field(min_length=1, description="test case name in the report")
    signal_reaches: SignalReaches | None = None
    message_period: MessagePeriod | None = None
    message_absent: MessageAbsent | None = None
    error_frames_seen: ErrorFramesSeen | None = None
    transport_switch: TransportSwitch | None = None
    delivered: Delivered | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Assertion:
        given = [k for k in ASSERTION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an assertion needs exactly one of {', '.join(ASSERTION_KINDS)}; got {given or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ASSERTION_KINDS if getattr(self, k) is not None)

    @property
    def check(self) -> StrictModel:
        return getattr(self, self.kind)


class ScenarioConfig(StrictModel):
    """A HIL scenario file (``hil/scenarios/*.yaml``)."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_ms: float = Field(gt=0, description="scenario length; assertions are judged after it")
    steps: list[Step] = Field(default_factory=list)
    assertions: list[Assertion] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_resolve(self) -> ScenarioConfig:
        ids = [s.id for s in self.steps if s.id]
        if len(set(ids)) != len(ids):
            raise ValueError(f"step ids must be unique, got {ids}")
        for a in self.assertions:
            after = getattr(a.check, "after", None)
            if after is not None and after not in ids:
                raise ValueError(f"assertion {a.name!r}: 'after' names unknown step {after!r} (ids: {ids})")
        for s in self.steps:
            if s.at_ms > self.duration_ms:
                raise ValueError(f"step at {s.at_ms} ms is past duration_ms {self.duration_ms}")
        return self


SCHEMAS: dict[str, type[StrictModel]] = {"hil-bench": BenchConfig, "hil-scenario": ScenarioConfig}


def write_schemas(folder: pathlib.Path) -> list[pathlib.Path]:
    """Write ``hil-bench.schema.json`` and ``hil-scenario.schema.json`` (generated from the models)."""
    written = []
    for name, model in SCHEMAS.items():
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_schemas(pathlib.Path(__file__).resolve().parents[2] / "manifests" / "schemas"):
        print(written)


__all__ = [
    "SCHEMAS",
    "Assertion",
    "BenchBus",
    "BenchConfig",
    "DeviceUnderTest",
    "ScenarioConfig",
    "SimulatedEcu",
    "Step",
    "write_schemas",
]
