"""``vmw can log|play|monitor`` as real processes on a real python-can ``udp_multicast`` bus.

The bus traffic stays in a network namespace the test creates (``unshare -rn``: only a loopback
with a multicast route), every process joins it with ``nsenter``. Waits are on conditions (a
process's ready line, its exit, lines it printed), each with a timeout.
"""

from __future__ import annotations

import os
import pathlib
import select
import signal
import subprocess
import sys
import time

import can
import cantools
import pytest

from vehicle_mw.can import open_log
from vehicle_mw.cli import main

DBC = pathlib.Path(__file__).resolve().parents[2] / "hil/dbc/body.dbc"
GROUP, PORT = "239.74.163.2", 45123
BUS = ["-i", "udp_multicast", "-c", GROUP, "--bus-kwargs", f"port={PORT}"]
TIMEOUT = 30.0


def _vmw(netns: list[str], *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [*netns, sys.executable, "-m", "vehicle_mw", *args], text=True, stderr=subprocess.PIPE, **popen
    )


class Lines:
    """A process's output read line by line with a timeout (os.read on the pipe: a buffered reader
    would hide lines it already holds from select)."""

    def __init__(self, stream):
        self.fd, self.buf = stream.fileno(), b""

    def wait(self, text: str, timeout: float = TIMEOUT) -> str:
        """Lines until one contains ``text``; AssertionError with what came when time is up or at EOF."""
        seen, end = [], time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                seen.append(line.decode())
                if text in seen[-1]:
                    return seen[-1]
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(self.fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"no line with {text!r} within {timeout} s; got {seen!r}")
            self.buf += chunk

    def rest(self) -> str:
        """Everything left, up to EOF (call once the process has ended)."""
        while chunk := os.read(self.fd, 65536):
            self.buf += chunk
        text, self.buf = self.buf.decode(), b""
        return text


def _ready(proc: subprocess.Popen, what: str) -> Lines:
    err = Lines(proc.stderr)
    err.wait(what)
    return err


def _frames() -> list[can.Message]:
    """10 ms apart: standard, extended, FD with bit rate switch, remote; data different in each."""
    out = []
    for i in range(12):
        kind = i % 4
        out.append(
            can.Message(
                timestamp=1_700_000_000.0 + i * 0.01,
                arbitration_id=[0x123, 0x18FEF100, 0x321, 0x7A][kind],
                is_extended_id=kind == 1,
                is_fd=kind == 2,
                bitrate_switch=kind == 2,
                is_remote_frame=kind == 3,
                dlc=2 if kind == 3 else None,
                data=None if kind == 3 else bytes([i] * (12 if kind == 2 else 8)),
            )
        )
    return out


def _write_log(path: pathlib.Path, frames: list[can.Message]) -> pathlib.Path:
    with can.Logger(str(path)) as writer:
        for f in frames:
            writer.on_message_received(f)
    return path


def _key(m: can.Message):
    return (m.arbitration_id, m.is_extended_id, m.is_fd, m.is_remote_frame, bytes(m.data))


@pytest.mark.parametrize("suffix", [".asc", ".blf", ".log", ".trc", ".mf4"])
def test_log_records_what_play_sends(netns, tmp_path, suffix):
    source = _write_log(tmp_path / "source.log", _frames())
    out = tmp_path / f"out{suffix}"
    logger = _vmw(netns, "can", "log", "-f", str(out), "-n", "12", *BUS)
    try:
        err = _ready(logger, "logging interface udp_multicast")
        player = _vmw(netns, "can", "play", str(source), *BUS)
        assert player.wait(TIMEOUT) == 0, player.stderr.read()
        assert "12 frames from" in player.stderr.read()
        assert logger.wait(TIMEOUT) == 0, err.rest()
        assert "12 frames logged to" in err.rest()
    finally:
        logger.kill()
    with open_log(out) as reader:  # python-can's reader (and asammdf for .mf4, loaded on demand)
        got = list(reader)
    sent = _frames()
    if suffix == ".trc":  # python-can's TRC writer keeps classic data frames only (it warns for the rest)
        sent = [m for m in sent if not (m.is_fd or m.is_remote_frame)]
    assert [_key(m) for m in got] == [_key(m) for m in sent]


def test_log_filters_and_play_keeps_the_timing(netns, tmp_path):
    source = _write_log(tmp_path / "source.asc", _frames())  # 110 ms from first to last frame
    logger = _vmw(netns, "can", "log", "-n", "6", "--filter", "123:7FF", "18FEF100:1FFFFFFF", *BUS,
                  stdout=subprocess.PIPE)  # fmt: skip
    try:
        err = _ready(logger, "to stdout")
        player = _vmw(netns, "can", "play", str(source), "--speed", "0.5", *BUS)  # half speed: 220 ms
        assert player.wait(TIMEOUT) == 0, player.stderr.read()
        assert logger.wait(TIMEOUT) == 0, err.rest()
        lines = logger.stdout.read().splitlines()
    finally:
        logger.kill()
    # candump -L lines: standard ids as 3 digits, extended as 8; the FD and remote frames filtered out
    assert [line.split()[2].split("#")[0] for line in lines] == ["123", "18FEF100"] * 3
    stamps = [float(line.split()[0].strip("()")) for line in lines]
    assert stamps[-1] - stamps[0] >= 0.9 * (0.09 / 0.5)  # 90 ms of log at half speed, as received


def test_sigterm_and_sigint_end_a_log_with_the_file_complete(netns, tmp_path):
    source = _write_log(tmp_path / "source.log", _frames()[:4])
    logger = _vmw(netns, "can", "log", *BUS, stdout=subprocess.PIPE)
    try:
        err = _ready(logger, "to stdout")
        out = Lines(logger.stdout)
        player = _vmw(netns, "can", "play", str(source), *BUS)
        assert player.wait(TIMEOUT) == 0
        for _ in range(4):
            out.wait("#")  # four frames printed (flushed while idle)
        logger.send_signal(signal.SIGTERM)
        assert logger.wait(TIMEOUT) == 0
        assert "4 frames logged to stdout" in err.rest()
    finally:
        logger.kill()
    blf = tmp_path / "empty.blf"
    logger = _vmw(netns, "can", "log", "-f", str(blf), *BUS)
    try:
        err = _ready(logger, "logging")
        logger.send_signal(signal.SIGINT)
        assert logger.wait(TIMEOUT) == 0
        text = err.rest()
        assert "Traceback" not in text and "0 frames logged" in text
    finally:
        logger.kill()
    with can.BLFReader(str(blf)) as reader:  # a finished BLF (header with its size written at close)
        assert list(reader) == []


def test_a_closed_stdout_ends_the_log_quietly(netns, tmp_path):
    source = _write_log(tmp_path / "source.log", _frames()[:2])
    logger = _vmw(netns, "can", "log", *BUS, stdout=subprocess.PIPE)
    player = None
    try:
        err = _ready(logger, "to stdout")
        player = _vmw(netns, "can", "play", str(source), "--loop", "0", *BUS)
        Lines(logger.stdout).wait("#")
        logger.stdout.close()  # `vmw can log | head -1`
        assert logger.wait(TIMEOUT) == 141
        assert "Traceback" not in err.rest()
        player.send_signal(signal.SIGINT)
        assert player.wait(TIMEOUT) == 130  # stopped before the end of its (endless) loop
        assert "loop(s)" in player.stderr.read()
    finally:
        logger.kill()
        if player is not None:
            player.kill()


def test_monitor_shows_decoded_values_counts_and_rates(netns, tmp_path):
    db = cantools.database.load_file(str(DBC))
    status = db.get_message_by_name("BodyStatus")
    frames = [
        can.Message(
            timestamp=1_700_000_000.0 + i * 0.02,
            arbitration_id=status.frame_id,
            is_extended_id=False,
            data=status.encode({"VehicleSpeed": 88.5, "GearPos": 3, "AmbientTemp": 21.5}),
        )
        for i in range(10)
    ]
    frames.append(
        can.Message(timestamp=1_700_000_000.3, arbitration_id=0x7FF, is_extended_id=False, data=b"\x01")
    )
    source = _write_log(tmp_path / "source.log", frames)
    monitor = _vmw(netns, "can", "monitor", "--database", str(DBC), "-n", "11", *BUS, stdout=subprocess.PIPE)
    try:
        err = _ready(monitor, "monitoring interface udp_multicast")
        player = _vmw(netns, "can", "play", str(source), *BUS)
        assert player.wait(TIMEOUT) == 0
        assert monitor.wait(TIMEOUT) == 0, err.rest()
        table = monitor.stdout.read()
    finally:
        monitor.kill()
    row = next(line for line in table.splitlines() if "BodyStatus" in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[1:4] == ["120", "BodyStatus", "10"]  # id 0x120, name, count
    assert float(cells[4]) > 0  # a rate over the last 2 s
    assert "VehicleSpeed=88.5 km/h" in row and "GearPos=3" in row and "AmbientTemp=21.5 degC" in row
    unknown = next(line for line in table.splitlines() if "7FF" in line)
    assert "01" in unknown  # an id the database lacks: shown raw
    assert "11 frames, 0 error frames" in table


def test_timing_becomes_python_can_bit_timing():
    from vehicle_mw.cli.cmd_can import parse_timing

    classic = parse_timing(["f_clock=8_000_000", "brp=1", "tseg1=5", "tseg2=2", "sjw=1"])
    assert isinstance(classic, can.BitTiming) and classic.bitrate == 1_000_000
    fd = parse_timing(
        ["f_clock=80000000", "nom_brp=1", "nom_tseg1=119", "nom_tseg2=40", "nom_sjw=40"]
        + ["data_brp=1", "data_tseg1=29", "data_tseg2=10", "data_sjw=10"]
    )
    assert isinstance(fd, can.BitTimingFd) and (fd.nom_bitrate, fd.data_bitrate) == (500_000, 2_000_000)


def test_log_rotates_files_past_max_bytes(netns, tmp_path):
    source = _write_log(tmp_path / "source.log", _frames())
    out = str(tmp_path / "rot.asc")
    logger = _vmw(netns, "can", "log", "-f", out, "--max-bytes", "600", "-n", "12", *BUS)
    try:
        err = _ready(logger, "logging")
        player = _vmw(netns, "can", "play", str(source), *BUS)
        assert player.wait(TIMEOUT) == 0
        assert logger.wait(TIMEOUT) == 0, err.rest()
    finally:
        logger.kill()
    files = sorted(tmp_path.glob("rot*.asc"))
    assert len(files) >= 2  # an ASC header and a few frames pass 600 bytes
    got = []
    for f in files:
        with can.ASCReader(str(f)) as reader:
            got += list(reader)
    assert sorted(_key(m) for m in got) == sorted(_key(m) for m in _frames())  # every frame, once


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["can", "play", "{tmp}/missing.asc", "-i", "virtual"], "{tmp}/missing.asc: log file not found"),
        (["can", "play", "{tmp}/drive.xyz", "-i", "virtual"], "{tmp}/drive.xyz: cannot read this log"),
        (["can", "log", "-f", "{tmp}/out.xyz", "-i", "virtual"], "{tmp}/out.xyz: unknown log format '.xyz'"),
        (["can", "log", "-f", "{tmp}/no/out.asc", "-i", "virtual"], "folder {tmp}/no does not exist"),
        (["can", "log", "-i", "nosuchcard"], "unknown CAN interface 'nosuchcard'"),
        (
            ["can", "log", "-f", "{tmp}/out.blf", "-i", "socketcan", "-c", "vmwnope0"],
            "cannot open the CAN bus (interface socketcan, channel vmwnope0)",
        ),  # fmt: skip
        (
            ["can", "monitor", "--db", "{tmp}/nope.dbc", "-i", "virtual"],
            "{tmp}/nope.dbc: signal database not found",
        ),
        (["can", "log", "-i", "virtual", "--filter", "12G:7FF"], "--filter 12G:7FF: expected ID:MASK in hex"),
        (["can", "log", "-i", "virtual", "--filter", "800:7FF"], "id out of range for a 11-bit id"),
        (
            ["can", "log", "-i", "virtual", "--filter", "123~7FF"],
            "inverse filters (ID~MASK) are not supported",
        ),
        (["can", "play", "{tmp}/drive.log", "-i", "virtual", "--speed", "0"], "--speed 0.0: must be > 0"),
        (["can", "log", "-i", "virtual", "--bus-kwargs", "drive.log"], "expected KEY=VALUE"),
        (
            ["can", "log", "-i", "virtual", "--timing", "f_clock=8000000", "brp=1"],
            "--timing: not a valid BitTiming",
        ),  # fmt: skip
        (["can", "log", "-i", "virtual", "--timing", "f_clock=fast"], "expected KEY=INTEGER"),
        (["can", "log", "-i", "virtual", "--max-bytes", "1000"], "--max-bytes needs a log file (-f)"),
    ],
)
def test_bad_input_is_one_line_naming_it_exit_2_and_nothing_written(tmp_path, capsys, argv, message):
    (tmp_path / "drive.xyz").write_text("?")
    _write_log(tmp_path / "drive.log", _frames()[:1])
    before = sorted(os.listdir(tmp_path))
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vmw: error: ") and message.format(tmp=tmp_path) in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("command", ["log", "play", "monitor"])
def test_help_renders_with_examples_and_exit_codes(capsys, command):
    with pytest.raises(SystemExit) as done:
        main(["can", command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "exit codes: 0 done" in out
    examples = [line for line in out.splitlines() if line.startswith(f"  vmw can {command} ")]
    assert examples and all("-i " in line for line in examples)
    assert max(len(line) for line in out.splitlines()) <= 110
