"""``vmw can log|play|monitor``: candump, canplayer and cansniffer (python-can's ``can.logger``,
``can.player`` and ``can.viewer``) for any python-can interface, in the vmw command.

Bus options use python-can's names (``-i``, ``-c``, ``-b``, ``--fd``, ``--data-bitrate``,
``--bus-kwargs``); log formats are python-can's, picked by the file's extension. python-can is
imported when a command runs, not when ``vmw`` builds its parser.

Exit codes: 0 done (``log``/``monitor`` stopped by Ctrl-C or SIGTERM, the file complete), 2 bad
input (a missing or unknown file, a bad filter, a bus that does not open: the message names it),
1 a send failed during ``play``, 130 ``play`` stopped before the end, 141 stdout closed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import pathlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

EXIT_OK, EXIT_SEND_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
POLL_S = 0.1  # how long a receive waits before the loop looks at its stop conditions


class BadInput(Exception):
    """A user error (file, filter, interface): one line on stderr, exit 2."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "can", help="CAN bus tools: log (candump), play (canplayer), monitor (cansniffer)"
    )
    sub = p.add_subparsers(dest="can_command", required=True, metavar="{log,play,monitor}")

    log = sub.add_parser(
        "log",
        help="record a bus to a log file (asc, blf, trc, log, csv, mf4, ...) or stdout",
        description=_fill(
            "Record every frame of a bus. The format follows the file's extension (python-can's "
            "writers: .asc .blf .trc .log (candump -L) .csv .mf4 .db .txt, each optionally .gz); without -f "
            "frames go to stdout as candump -L lines. Ctrl-C or SIGTERM ends it with the file complete."
        ),
        epilog=_examples(
            "vmw can log -i socketcan -c can0 -f drive.blf",
            "vmw can log -i pcan -c PCAN_USBBUS1 -b 500000 -f x.asc -n 1000 --duration 60",
            "vmw can log -i socketcan -c can0 --filter 123:7FF 18FEF100:1FFFF00 | grep 18FEF1",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    log.add_argument("-f", "--file", help="log file to write (default: stdout, candump -L format)")
    log.add_argument(
        "--max-bytes",
        type=int,
        help="rotate past this size (python-can SizedRotatingLogger: full files become FILE_<time>_#NNN.ext)",
    )
    log.add_argument("-n", "--count", type=int, help="stop after this many frames")
    log.add_argument("--duration", type=float, help="stop after this many seconds")
    _bus_arguments(log, filters=True)
    log.set_defaults(func=_exits_on_bad_input(run_log))

    play = sub.add_parser(
        "play",
        help="replay a log file onto a bus with its timing",
        description=_fill(
            "Send a log's frames (asc, blf, trc, log, csv, mf4) onto a bus at the log's own timing "
            "divided by --speed. Ctrl-C stops it (exit 130)."
        ),
        epilog=_examples(
            "vmw can play drive.blf -i socketcan -c can0 --speed 2",
            "vmw can play idle.asc -i socketcan -c vcan0 --skip 1 --loop 0",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    play.add_argument("infile", type=pathlib.Path, help="log file to replay")
    play.add_argument("--speed", type=float, default=1.0, help="2 = twice as fast (default 1)")
    play.add_argument("--ignore-timestamps", action="store_true", help="send back to back (canplayer -t)")
    play.add_argument("-s", "--skip", type=float, metavar="SECONDS", help="shorten pauses longer than this")
    play.add_argument("-l", "--loop", type=int, default=1, help="play this many times (0: until stopped)")
    _bus_arguments(play, filters=False)
    play.set_defaults(func=_exits_on_bad_input(run_play))

    mon = sub.add_parser(
        "monitor",
        help="live table of the latest frame per id, its rate and decoded signals",
        description=_fill(
            "A live table (cansniffer, python -m can.viewer): per id the message name, count, rate, "
            "age, data and, with --database, the decoded signal values with units and choice labels. "
            "When stdout is not a terminal the table is printed once, at the end."
        ),
        epilog=_examples(
            "vmw can monitor -i socketcan -c can0 --database hil/dbc/body.dbc",
            "vmw can monitor -i udp_multicast -c 239.74.163.2 --bus-kwargs port=45123 -n 100 > table.txt",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mon.add_argument(
        "--database",
        "--db",
        action="append",
        default=[],
        help="DBC/ARXML/KCD/SYM file to decode with (repeat for several; the first that knows an id decodes)",
    )
    mon.add_argument("--non-strict", action="store_true", help="load databases with cantools strict=False")
    mon.add_argument("-n", "--count", type=int, help="stop after this many frames")
    mon.add_argument("--duration", type=float, help="stop after this many seconds")
    _bus_arguments(mon, filters=True)
    mon.set_defaults(func=_exits_on_bad_input(run_monitor))


def _fill(text: str) -> str:
    """Descriptions wrapped here: the raw formatter that keeps the examples' lines keeps these too."""
    import textwrap

    return textwrap.fill(text, 78)


def _examples(*lines: str) -> str:
    return (
        "examples:\n"
        + "\n".join(f"  {line}" for line in lines)
        + "\n\nsee docs/cli.md; exit codes: "
        + ("0 done, 2 bad input, 1 send failed, 130 play interrupted, 141 stdout closed")
    )


def _bus_arguments(p: argparse.ArgumentParser, *, filters: bool) -> None:
    g = p.add_argument_group("bus (python-can)")
    g.add_argument(
        "-i",
        "--interface",
        help="python-can interface: socketcan, virtual, udp_multicast, pcan, vector, kvaser, ... "
        "(default: python-can's configuration file or CAN_INTERFACE)",
    )
    g.add_argument(
        "-c", "--channel", help="channel, e.g. can0 (socketcan), a name (virtual), a group address"
    )
    g.add_argument("-b", "--bitrate", type=int, help="nominal bitrate in bit/s, where the interface sets it")
    g.add_argument("--fd", action="store_true", help="CAN FD")
    g.add_argument("--data-bitrate", type=int, help="CAN FD data-phase bitrate in bit/s")
    g.add_argument(
        "--timing",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="bit timing instead of --bitrate, as python-can's BitTiming (f_clock brp tseg1 tseg2 sjw "
        "[nof_samples]) or BitTimingFd (f_clock nom_brp nom_tseg1 nom_tseg2 nom_sjw data_brp data_tseg1 "
        "data_tseg2 data_sjw), e.g. f_clock=8000000 brp=1 tseg1=5 tseg2=2 sjw=1",
    )
    g.add_argument(
        "--bus-kwargs",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="more can.Bus keyword arguments, e.g. port=45123 receive_own_messages=True",
    )
    if filters:
        g.add_argument(
            "--filter",
            nargs="+",
            action="extend",
            default=[],
            metavar="ID:MASK",
            help="receive only frames with (id & MASK) == (ID & MASK), both hex; more than 3 digits in ID "
            "means an extended id (as candump). Several filters: any may match",
        )


def _exits_on_bad_input(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BadInput as exc:
            print(f"vmw: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return wrapper


def parse_filters(texts: list[str]) -> list[dict]:
    """``ID:MASK`` (hex) as python-can ``can_filters``; an ID of more than 3 digits is extended."""
    out = []
    for text in texts:
        if "~" in text:
            raise BadInput(f"--filter {text}: inverse filters (ID~MASK) are not supported; use ID:MASK")
        ident, sep, mask = text.partition(":")
        try:
            if not sep:
                raise ValueError
            can_id, can_mask = int(ident, 16), int(mask, 16)
        except ValueError:
            raise BadInput(
                f"--filter {text}: expected ID:MASK in hex, e.g. 123:7FF or 18FEF100:1FFFFFFF"
            ) from None
        extended = len(ident.strip()) > 3
        if not 0 <= can_id <= (0x1FFFFFFF if extended else 0x7FF) or can_mask < 0:
            raise BadInput(f"--filter {text}: id out of range for a {'29' if extended else '11'}-bit id")
        out.append({"can_id": can_id, "can_mask": can_mask, "extended": extended})
    return out


def parse_timing(texts: list[str]):
    """``--timing`` as a python-can ``BitTiming`` (``BitTimingFd`` when nom_/data_ keys are given)."""
    import can

    values = {}
    for text in texts:
        key, sep, value = text.partition("=")
        try:
            if not sep:
                raise ValueError
            values[key] = int(value.replace("_", ""))
        except ValueError:
            raise BadInput(f"--timing {text!r}: expected KEY=INTEGER, e.g. f_clock=8000000") from None
    kind = can.BitTimingFd if any(k.startswith(("nom_", "data_")) for k in values) else can.BitTiming
    try:
        return kind(**values)
    except (TypeError, ValueError) as exc:  # a missing/unknown key, or values outside the CAN limits
        raise BadInput(f"--timing: not a valid {kind.__name__}: {exc}") from None


def _bus_kwargs(texts: list[str]) -> dict:
    from can.util import cast_from_string

    out = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise BadInput(
                f"--bus-kwargs {text!r}: expected KEY=VALUE (put positional files before the options)"
            )
        out[key] = cast_from_string(value)
    return out


def describe(args: argparse.Namespace) -> str:
    return f"interface {args.interface or '(from python-can config)'}, channel {args.channel}"


def open_bus(args: argparse.Namespace, filters: list[dict] | None = None):
    """The python-can bus the options describe; :class:`BadInput` naming interface and channel if not."""
    import can

    where = describe(args)
    if args.interface and args.interface not in can.VALID_INTERFACES:
        known = ", ".join(sorted(can.VALID_INTERFACES))
        raise BadInput(f"unknown CAN interface {args.interface!r} (python-can knows: {known})")
    config: dict = {"interface": args.interface, "channel": args.channel}
    if args.bitrate is not None:
        config["bitrate"] = args.bitrate
    if args.fd:
        config["fd"] = True
    if args.data_bitrate is not None:
        config["data_bitrate"] = args.data_bitrate
    if filters:
        config["can_filters"] = filters
    if args.timing:
        config["timing"] = parse_timing(args.timing)
    config.update(_bus_kwargs(args.bus_kwargs))
    try:
        return can.Bus(**{k: v for k, v in config.items() if v is not None})
    except Exception as exc:  # each interface raises its own types (OSError, CanInitializationError, ...)
        raise BadInput(f"cannot open the CAN bus ({where}): {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM set the event instead of raising, so the loop closes its file and bus."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _receive(bus, stop: threading.Event, duration: float | None, count: int | None = None) -> Iterator:
    """Frames until ``stop``, ``duration`` seconds or ``count`` frames; ``None`` each idle poll."""
    end = None if duration is None else time.monotonic() + duration
    seen = 0
    while not stop.is_set() and (count is None or seen < count):
        left = POLL_S if end is None else min(POLL_S, end - time.monotonic())
        if left <= 0:
            return
        msg = bus.recv(timeout=left)
        if msg is not None:
            seen += 1
        yield msg


class _KeepOpen:
    """stdout for a python-can writer, which closes its file when it stops: closing only flushes."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


def _log_writer(file: str | None, channel: str | None, max_bytes: int | None = None):
    """python-can's writer for the file's extension, or candump -L lines on stdout."""
    import can
    from can.io.logger import MESSAGE_WRITERS

    if file is None or file == "-":
        from can.io import CanutilsLogWriter

        if max_bytes is not None:
            raise BadInput("--max-bytes needs a log file (-f)")

        name = channel if channel and not any(c.isspace() for c in channel) else "can0"
        return functools.partial(CanutilsLogWriter, _KeepOpen(sys.stdout), channel=name), "stdout"
    path = pathlib.Path(file)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    suffix = suffixes[0] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else path.suffix.lower()
    if suffix not in MESSAGE_WRITERS:
        raise BadInput(f"{file}: unknown log format {suffix or '(no extension)'!r} (python-can writes "
                       f"{', '.join(sorted(MESSAGE_WRITERS))}, optionally .gz)")  # fmt: skip
    if not path.parent.is_dir():
        raise BadInput(f"{file}: folder {path.parent} does not exist")
    if suffix == ".mf4":
        from vehicle_mw._python_can_fixes import load_mf4_support

        if not load_mf4_support():
            raise BadInput(f"{file}: writing MF4 needs asammdf (pip install asammdf)")
    if max_bytes is not None:
        if max_bytes <= 0:
            raise BadInput(f"--max-bytes {max_bytes}: must be > 0")
        return functools.partial(can.SizedRotatingLogger, str(path), max_bytes=max_bytes), file
    return functools.partial(can.Logger, str(path)), file


def run_log(args: argparse.Namespace) -> int:
    # bad file names and options fail before the bus opens
    writer, target = _log_writer(args.file, args.channel, args.max_bytes)
    filters = parse_filters(args.filter)
    bus = open_bus(args, filters)
    frames = 0
    try:
        try:
            writer = writer()
        except (OSError, ValueError) as exc:
            raise BadInput(f"{target}: cannot write: {exc}") from exc
        try:
            with _stop_on_signals() as stop:
                print(f"logging {describe(args)} to {target} (Ctrl-C to stop)", file=sys.stderr, flush=True)
                for msg in _receive(bus, stop, args.duration, args.count):
                    if msg is None:
                        if target == "stdout":
                            writer.file.flush()  # idle: a reader of the pipe sees what came so far
                        continue
                    writer.on_message_received(msg)
                    frames += 1
        finally:
            with contextlib.suppress(BrokenPipeError):
                writer.stop()
    finally:
        bus.shutdown()
    print(f"{frames} frames logged to {target}", file=sys.stderr)
    return EXIT_OK


def run_play(args: argparse.Namespace) -> int:
    import can

    from vehicle_mw.can import open_log
    from vehicle_mw.can.playback import LogPlayer
    from vehicle_mw.can.replay import ReplayError, read_messages

    if args.speed <= 0:
        raise BadInput(f"--speed {args.speed}: must be > 0 (--ignore-timestamps sends back to back)")
    if args.loop < 0:
        raise BadInput(f"--loop {args.loop}: must be >= 0")
    try:
        open_log(args.infile).stop()  # a missing or unknown file fails before the bus opens
    except ReplayError as exc:
        raise BadInput(str(exc)) from None
    bus = open_bus(args)
    started = time.monotonic()
    loops, finished = 0, False
    try:
        with _stop_on_signals() as stop:
            player = LogPlayer(
                bus, speed=0 if args.ignore_timestamps else args.speed, skip_gap_s=args.skip, stop=stop
            )
            while args.loop == 0 or loops < args.loop:
                with open_log(args.infile) as reader:
                    finished = player.play(read_messages(reader, args.infile))
                if not finished:
                    break
                loops += 1
    except ReplayError as exc:
        raise BadInput(str(exc)) from None
    except can.CanError as exc:
        print(
            f"vmw: error: send failed after {player.sent} frames: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return EXIT_SEND_FAILED
    finally:
        bus.shutdown()
    print(
        f"{player.sent} frames from {args.infile} in {time.monotonic() - started:.3f} s, {loops} loop(s)",
        file=sys.stderr,
    )
    return EXIT_OK if finished else EXIT_INTERRUPTED


def run_monitor(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from vehicle_mw.can.monitor import MessageTable
    from vehicle_mw.signals import DatabaseError, load_database

    try:
        databases = [load_database(p, strict=not args.non_strict) for p in args.database]
    except DatabaseError as exc:
        raise BadInput(str(exc)) from None
    filters = parse_filters(args.filter)
    bus = open_bus(args, filters)
    table = MessageTable(databases)
    title = f"{args.interface or 'can'} {args.channel or ''}".strip()
    console = Console() if sys.stdout.isatty() else Console(width=200)  # a file gets whole rows
    try:
        with (
            _stop_on_signals() as stop,
            Live(
                get_renderable=lambda: table.render(time.monotonic(), title),
                console=console,
                refresh_per_second=4,
            ),
        ):
            print(f"monitoring {describe(args)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for msg in _receive(bus, stop, args.duration, args.count):
                if msg is not None:
                    table.add(msg, time.monotonic())
    finally:
        bus.shutdown()
    return EXIT_OK
