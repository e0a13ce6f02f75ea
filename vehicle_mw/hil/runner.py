"""Run a scenario on a bench: start the DUT and the restbus, fire the steps on time, judge.

The timeline runs on one asyncio loop (steps are scheduled against a monotonic start); the
restbus, trace players and CAN readers run on their own threads. Every name a scenario uses
(ECU, bus, message, signal, transport) is checked before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import tempfile
import time
from dataclasses import dataclass, field

import can
from cantools.database.can import Message

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.hil.dut import RuntimeUnderTest, bench_can_buses
from vehicle_mw.hil.player import TracePlayer
from vehicle_mw.hil.plots import SignalPlot, asserted_plots
from vehicle_mw.hil.recorder import BusRecorder
from vehicle_mw.hil.restbus import HilError, RestbusEcu
from vehicle_mw.hil.verdicts import RunEvidence, Verdict, judge
from vehicle_mw.manifest import load_manifest
from vehicle_mw.manifest.hil import BenchConfig, ScenarioConfig, Step
from vehicle_mw.signals import load_database


@dataclass
class RunInfo:
    """Where, when and with what a run was made (both reports carry it)."""

    started: str = ""  # UTC, ISO 8601
    host: str = ""
    version: str = ""  # vehicle_mw
    bench_file: str = ""
    bench_sha256: str = ""
    scenario_file: str = ""
    scenario_sha256: str = ""
    bus_log: str = ""  # the run's bench bus traffic (ASC/BLF), "" when not recorded

    @classmethod
    def of(cls, bench_file: pathlib.Path, scenario_file: pathlib.Path) -> RunInfo:
        import datetime
        import hashlib
        import socket

        from vehicle_mw import __version__

        def sha(path: pathlib.Path) -> str:
            try:
                return hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return ""

        return cls(
            started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            host=socket.gethostname(),
            version=__version__,
            bench_file=str(bench_file),
            bench_sha256=sha(bench_file),
            scenario_file=str(scenario_file),
            scenario_sha256=sha(scenario_file),
        )


@dataclass
class HilReport:
    """Everything a report needs: names, the step log and the verdicts; ``error`` when the bench
    itself failed (infrastructure: a bus that does not open, a DUT that does not start)."""

    bench: str
    scenario: str
    duration_s: float
    steps: list[tuple[float, str]] = field(default_factory=list)  # (ms since start, what happened)
    verdicts: list[Verdict] = field(default_factory=list)
    info: RunInfo = field(default_factory=RunInfo)
    error: str = ""
    assertions: list[str] = field(default_factory=list)  # names of the scenario's assertions (not run)
    plots: list[SignalPlot] = field(default_factory=list)  # the asserted signals over the run (HTML)

    @property
    def passed(self) -> bool:
        return not self.error and all(v.passed for v in self.verdicts)


class BenchFault(VehicleMwError):
    """The bench could not run the scenario (infrastructure, not a verdict): ``report`` says so."""

    def __init__(self, message: str, report: HilReport):
        super().__init__(message)
        self.report = report


def _bus_databases(bench: BenchConfig, base: pathlib.Path) -> dict[str, dict[str, Message]]:
    """Per bus: message name -> cantools message, from all of the bus's databases."""
    out: dict[str, dict[str, Message]] = {}
    for bus in bench.buses:
        messages: dict[str, Message] = {}
        for path in bus.databases:
            messages.update({m.name: m for m in load_database(base / path, strict=False).messages})
        out[bus.name] = messages
    return out


def _suggest(name: str, known) -> str:
    """'; did you mean X?' for the closest known name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_names(
    bench: BenchConfig, sc: ScenarioConfig, file: str, ecus: dict[str, RestbusEcu], catalog, dbs
) -> None:
    """Every name a step or assertion uses must exist on the bench; errors name file and path."""
    buses = {b.name for b in bench.buses}

    def need(cond: bool, where: str, what: str) -> None:
        if not cond:
            raise HilError(f"{file}: {where}: {what}")

    for i, step in enumerate(sc.steps):
        a, where = step.action, f"steps[{i}].{step.kind}" + (f" (id {step.id})" if step.id else "")
        if hasattr(a, "ecu"):
            need(
                a.ecu in ecus,
                where,
                f"unknown ecu {a.ecu!r}{_suggest(a.ecu, ecus)} (bench has {sorted(ecus)})",
            )
        if step.kind == "set_signal":
            sent = [f"{m}.{sig}" for m, per in ecus[a.ecu].periodic.items() for sig in per.values]
            need(
                a.signal in sent,
                where,
                f"ecu {a.ecu!r} does not send {a.signal!r}{_suggest(a.signal, sent)} (unknown signal)",
            )
        if step.kind == "drop_message":
            periodic = ecus[a.ecu].periodic
            need(
                a.message in periodic,
                where,
                f"ecu {a.ecu!r} does not send {a.message!r}{_suggest(a.message, periodic)}",
            )
        if hasattr(a, "bus"):
            need(a.bus in buses, where, f"unknown bus {a.bus!r} (bench has {sorted(buses)})")
        if step.kind == "link":
            need(bench.dut.uplink, where, "link steps need a bench with dut.uplink: true")
        if step.kind == "replay":
            need((pathlib.Path(file).parent / a.file).is_file(), where, f"trace {a.file!r} not found")
    for i, assertion in enumerate(sc.assertions):
        c, where = assertion.check, f"assertions[{i}].{assertion.kind}"
        if hasattr(c, "bus"):
            need(c.bus in buses, where, f"unknown bus {c.bus!r}")
            if hasattr(c, "message"):
                need(
                    c.message in dbs[c.bus],
                    where,
                    f"bus {c.bus!r} has no message {c.message!r} in its databases",
                )
        if hasattr(c, "signal"):
            try:
                catalog.find(c.signal)
            except KeyError as exc:
                hint = _suggest(c.signal, [s.name for s in catalog.signals])
                need(False, where, f"{exc.args[0]}{hint}")
        if assertion.kind in ("delivered", "transport_switch"):
            need(bench.dut.uplink, where, f"{assertion.kind} needs a bench with dut.uplink: true")


class ScenarioRun:
    """One run of ``scenario`` on ``bench`` (files already loaded)."""

    def __init__(
        self,
        bench: BenchConfig,
        bench_file: pathlib.Path,
        scenario: ScenarioConfig,
        scenario_file: pathlib.Path,
    ):
        self.bench, self.scenario = bench, scenario
        self.bench_dir, self.scenario_file = bench_file.parent, scenario_file
        self._bench_name = bench_file.name
        self.log: list[tuple[float, str]] = []
        self.step_ns: dict[str, int] = {}
        self._buses: list[can.BusABC] = []
        self.players: list[TracePlayer] = []

    def _open(self, bus_name: str) -> can.BusABC:
        cfg = next(b for b in self.bench.buses if b.name == bus_name)
        kwargs = dict(cfg.options)
        if cfg.bitrate:
            kwargs["bitrate"] = cfg.bitrate
        bus = can.Bus(interface=cfg.interface, channel=cfg.channel, **kwargs)
        self._buses.append(bus)
        return bus

    def _note(self, text: str) -> None:
        self.log.append(((time.monotonic() - self.mono0) * 1000.0, text))

    def _fire(self, step: Step) -> None:
        a, kind = step.action, step.kind
        if kind == "set_signal":
            self.ecus[a.ecu].set_signal(a.signal, a.value)
            text = f"{a.ecu}: {a.signal} = {a.value:g}"
        elif kind == "drop_message":
            self.ecus[a.ecu].drop(a.message, a.for_ms / 1000.0)
            text = f"{a.ecu}: drop {a.message} for {a.for_ms:g} ms"
        elif kind == "stop_ecu":
            self.ecus[a.ecu].silence(None if a.for_ms is None else a.for_ms / 1000.0)
            text = f"{a.ecu}: silent" + (f" for {a.for_ms:g} ms" if a.for_ms else "")
        elif kind == "error_frames":
            bus = self.injectors.setdefault(a.bus, self._open(a.bus))
            for _ in range(a.count):
                bus.send(can.Message(is_error_frame=True, arbitration_id=0x20000004, dlc=8, data=bytes(8)))
            text = f"{a.bus}: {a.count} error frames"
        elif kind == "replay":
            path = (self.scenario_file.parent / a.file).resolve()
            max_s = a.max_ms / 1000.0 if a.max_ms else None
            self.players.append(TracePlayer(path, self._open(a.bus), a.speed, max_s).start())
            text = f"{a.bus}: replay {path.name} at x{a.speed:g}"
        else:  # link
            proxy = self.dut.proxies[a.transport]
            settings = {
                k: v
                for k in ("delay_ms", "jitter_ms", "loss", "stall", "blackhole")
                if (v := getattr(a, k)) is not None
            }
            if a.restore:
                proxy.clear()
            if settings:
                proxy.impair(**settings)
            if a.cut:
                proxy.cut(refuse=a.refuse)
            text = f"link {a.transport}: " + ", ".join(
                [w for w, on in (("restore", a.restore), ("cut", a.cut), ("refuse", a.refuse)) if on]
                + [f"{k}={v}" for k, v in settings.items()]
            )
        if step.id:
            self.step_ns[step.id] = time.time_ns()
        self._note(text + (f"  [{step.id}]" if step.id else ""))

    async def run(self, workdir: pathlib.Path, bus_log: pathlib.Path | None = None) -> HilReport:
        """Run and judge; :class:`BenchFault` (with a report naming the error) when the bench itself fails.
        ``bus_log`` (.asc, .blf, ...: any python-can writer) records the bench buses' traffic."""
        dbs = _bus_databases(self.bench, self.bench_dir)
        dut = self.bench.dut
        buses = bench_can_buses(self.bench, self.bench_dir)
        self.dut = RuntimeUnderTest(buses, workdir, dut.vehicle_id, dut.probe_interval_s)
        self.ecus = {e.name: RestbusEcu(e, dbs[e.bus], None) for e in self.bench.ecus}
        _check_names(self.bench, self.scenario, str(self.scenario_file), self.ecus, self.dut.catalog, dbs)
        self.injectors: dict[str, can.BusABC] = {}
        self.step_errors: list[Verdict] = []
        self.mono0 = started = time.monotonic()
        self.info = RunInfo.of(self.bench_dir / self._bench_name, self.scenario_file)
        recorder: BusRecorder | None = None
        phase = "starting the device under test"
        try:
            await self._start_dut()
            if bus_log is not None:
                phase = f"recording the bench buses to {bus_log}"
                recorder = BusRecorder(bus_log, [self._open(b.name) for b in self.bench.buses])
                self.info.bus_log = str(bus_log)
            phase = "running the scenario"
            try:
                await self._timeline()
            finally:
                drained = await self._stop_sources()
            evidence = self._evidence(dbs)
            if self.bench.dut.uplink:
                self._collect_uplink(evidence, drained)
        except HilError as exc:
            raise self._fault(f"{phase}: {exc}", started) from exc
        except (can.CanError, OSError, TimeoutError, VehicleMwError, ImportError, ValueError) as exc:
            raise self._fault(f"{phase}: {type(exc).__name__}: {exc}", started) from exc
        finally:
            if recorder is not None:
                recorder.stop()
            with contextlib.suppress(Exception):
                await self.dut.close()
            for bus in self._buses:
                with contextlib.suppress(Exception):
                    bus.shutdown()
        for player in self.players:
            err = player.error
            outcome = f"failed: {type(err).__name__}: {err}" if err is not None else "done"
            self._note(f"replay {player.path.name}: {player.sent} frames sent, {outcome}")
            if player.error is not None:
                what = f"replay of {player.path.name}"
                self.step_errors.append(Verdict(what, "replay", False, "trace replays", outcome))
        report = HilReport(
            self.bench.name, self.scenario.name, time.monotonic() - started, self.log, info=self.info
        )
        report.verdicts = self.step_errors + [judge(a, evidence) for a in self.scenario.assertions]
        report.assertions = [a.name for a in self.scenario.assertions]
        report.plots = asserted_plots(self.scenario.assertions, evidence)
        return report

    def _fault(self, message: str, started: float) -> BenchFault:
        self._note(f"BENCH ERROR: {message}")
        report = HilReport(
            self.bench.name,
            self.scenario.name,
            time.monotonic() - started,
            self.log,
            info=self.info,
            error=message,
            assertions=[a.name for a in self.scenario.assertions],
        )
        return BenchFault(f"{self.scenario_file}: bench {self.bench.name!r} could not run: {message}", report)

    async def _start_dut(self) -> None:
        """The shipping runtime, uplinked to the bench's gateway (its evidence is what it stored)."""
        try:
            await self.dut.start()
        except TimeoutError as exc:
            raise HilError(f"{exc}{self._bus_errors()}") from exc
        if not await self.dut.wait_connected(10.0):
            raise HilError("the uplink did not settle on its preferred transport within 10 s")
        for ecu in self.ecus.values():
            ecu.bus = self._open(ecu.cfg.bus)

    def _bus_errors(self) -> str:
        """Why each bench bus that is not up is not (the runtime's bus reader says), for the error."""
        rt = self.dut.runtime
        if rt is None:
            return ""
        try:
            buses = rt.counters()["can"]["buses"]
        except Exception:  # noqa: BLE001 - only decorates an error already being raised
            return ""
        notes = []
        for b in self.bench.buses:
            st = buses.get(b.name, {})
            if st.get("state") != "up":
                why = st.get("last_error") or st.get("state") or "not up"
                notes.append(f"{b.name} ({b.interface} {b.channel}): {why}")
        return ": " + "; ".join(notes) if notes else ""

    async def _timeline(self) -> None:
        self.t0_ns, self.mono0 = time.time_ns(), time.monotonic()
        for ecu in self.ecus.values():
            ecu.start()
        self._note(("start: restbus " + ", ".join(self.ecus)) if self.ecus else "start")
        for i, step in enumerate(sorted(self.scenario.steps, key=lambda s: s.at_ms)):
            await asyncio.sleep(max(0.0, self.mono0 + step.at_ms / 1000.0 - time.monotonic()))
            try:
                self._fire(step)
            except (VehicleMwError, can.CanError, OSError) as exc:  # judged as a failure, the run goes on
                what = f"step {step.id or i} ({step.kind}) at {step.at_ms:g} ms"
                self._note(f"{what} FAILED: {exc}")
                self.step_errors.append(Verdict(what, step.kind, False, "step executes", f"failed: {exc}"))
        await asyncio.sleep(max(0.0, self.mono0 + self.scenario.duration_ms / 1000.0 - time.monotonic()))
        self._note("end of scenario")

    async def _stop_sources(self) -> bool:
        for ecu in self.ecus.values():
            ecu.stop()
        for player in self.players:
            player.stop()
        delivered = next((a.delivered for a in self.scenario.assertions if a.delivered), None)
        drained = await self.dut.stop(delivered.drain_within_ms / 1000.0 if delivered else 15.0)
        self._note("outbox drained" if drained else "outbox NOT drained")
        return drained

    def _collect_uplink(self, evidence: RunEvidence, drained: bool) -> None:
        evidence.drained = drained
        evidence.delivered = (self.dut.appended, *self.dut.stored())
        evidence.switches = list(self.dut.switches)

    def _evidence(self, dbs) -> RunEvidence:
        frame_ids, cycles = {}, {}
        for bus, messages in dbs.items():
            for name, m in messages.items():
                frame_ids[(bus, name)] = m.frame_id
        for ecu in self.ecus.values():
            for name, p in ecu.periodic.items():
                cycles[(ecu.cfg.bus, name)] = p.period_s * 1000.0
        return RunEvidence(
            t0_ns=self.t0_ns,
            frames=self.dut.frames(),
            samples=self.dut.samples(),
            step_ns=self.step_ns,
            bus_ids={b.name: i for i, b in enumerate(self.bench.buses)},
            frame_ids=frame_ids,
            cycle_ms=cycles,
            signal_ids={s.name: s.id for s in self.dut.catalog.signals},
            error_frames={b.name: self.dut.error_frames(i) for i, b in enumerate(self.bench.buses)},
            replayed=sum(p.sent for p in self.players),
            ingested=self.dut.frames_ingested(),
        )


def load_bench(path: str | pathlib.Path) -> BenchConfig:
    return load_manifest(path, BenchConfig)


def load_scenario(path: str | pathlib.Path) -> ScenarioConfig:
    return load_manifest(path, ScenarioConfig)


def check_files(bench_file: str | pathlib.Path, scenario_file: str | pathlib.Path) -> None:
    """Load both files and check every name the scenario uses against the bench (ECUs, signals,
    messages, buses, step ids, traces), starting nothing; :class:`HilError` naming file, step and name."""
    bench_file, scenario_file = pathlib.Path(bench_file), pathlib.Path(scenario_file)
    bench, scenario = load_bench(bench_file), load_scenario(scenario_file)
    from vehicle_mw.signals import load_catalog

    dbs = _bus_databases(bench, bench_file.parent)
    ecus = {e.name: RestbusEcu(e, dbs[e.bus], None) for e in bench.ecus}
    catalog = load_catalog(bench_can_buses(bench, bench_file.parent))
    _check_names(bench, scenario, str(scenario_file), ecus, catalog, dbs)


async def run_scenario(
    bench_file: str | pathlib.Path,
    scenario_file: str | pathlib.Path,
    workdir: pathlib.Path | None = None,
    bus_log: pathlib.Path | None = None,
) -> HilReport:
    """Load both files, run the scenario and return the report (raises on unusable files, and
    :class:`BenchFault` carrying a report when the bench fails). ``bus_log``: record the bus traffic."""
    bench_file, scenario_file = pathlib.Path(bench_file), pathlib.Path(scenario_file)
    bench, scenario = load_bench(bench_file), load_scenario(scenario_file)
    run = ScenarioRun(bench, bench_file, scenario, scenario_file)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        return await run.run(workdir, bus_log)
    with tempfile.TemporaryDirectory(prefix="vmw-hil-") as tmp:
        return await run.run(pathlib.Path(tmp), bus_log)


__all__ = [
    "BenchFault",
    "HilReport",
    "RunInfo",
    "ScenarioRun",
    "check_files",
    "load_bench",
    "load_scenario",
    "run_scenario",
]
