"""The ``vmw`` command.

Subcommands live one per module in this package (``vehicle_mw/cli/cmd_<name>.py``);
each module defines ``register(subparsers)`` which adds its parser and sets
``func`` to a callable taking the parsed args and returning an exit code.
Modules whose optional dependencies are missing are skipped with a note in ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from vehicle_mw import __version__
from vehicle_mw.errors import VehicleMwError

__all__ = ["main", "build_parser"]


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``vmw`` parser with every command (``only=None``), with the one command module
    ``cmd_<only>`` (what a run of that command needs: the others' imports are not paid), or with
    none (``only=""``: enough for ``--version``)."""
    parser = argparse.ArgumentParser(prog="vmw", description="vehicle_mw runtime, bench and gateway")
    parser.add_argument("--version", action="version", version=f"vmw {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    unavailable = []
    for name in _command_modules():
        if only is not None and name != f"cmd_{only}":
            continue
        try:  # a command may import its extra at import or at register (vmw demo: fastapi)
            importlib.import_module(f"{__name__}.{name}").register(subparsers)
        except ImportError as exc:
            unavailable.append(f"{name[4:]} ({exc.name} not installed)")
    if unavailable:
        parser.epilog = "unavailable: " + ", ".join(unavailable)
    return parser


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """Build only what this command line needs: ``vmw can log`` imports the can command alone,
    ``vmw --version`` none; help without a command, or a command word without a module of its
    name (``vmw info``), builds them all."""
    word = next((a for a in argv if not a.startswith("-")), None)
    if word is None:
        help_asked = any(a in ("-h", "--help") for a in argv)
        return build_parser(only="" if "--version" in argv and not help_asked else None)
    return build_parser(only=word if f"cmd_{word}" in _command_modules() else None)


def _quiet_broken_pipe() -> int:
    """The reader of our stdout went away (``vmw gateway schema | head``): no traceback, and no
    'Exception ignored' note when the interpreter flushes stdout at exit. 141 = 128 + SIGPIPE, what
    a shell reports for a command a closed pipe ended."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        return _quiet_broken_pipe()


def _main(argv: list[str] | None) -> int:
    parser = _parser_for(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    finally:
        sys.stdout.flush()  # --help / --version: a closed pipe shows here, inside main
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except VehicleMwError as exc:
        print(f"vmw: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
