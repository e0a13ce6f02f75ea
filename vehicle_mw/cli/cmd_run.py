"""``vmw run EXECUTION_MANIFEST``: launch, supervise and keep running the ECU's applications."""

from __future__ import annotations

import argparse
import signal


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run the applications of an execution manifest (execution manager)")
    p.add_argument("manifest", help="execution manifest (YAML); names its machine manifest")
    p.add_argument(
        "--control-socket",
        default=None,
        help="AF_UNIX control socket for `vmw state` (default: $VMW_CONTROL_SOCKET or "
        "/run/vehicle_mw/control.sock; 'none' disables it)",
    )
    p.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="GROUP=STATE",
        help="start a function group in this state instead of its initial one (repeatable)",
    )
    p.add_argument(
        "--install-root",
        default=None,
        help="folder of installed update packages (vmw update): recovered at boot, their active "
        "versions run too (default: $VMW_INSTALL_ROOT; unset: none)",
    )
    p.add_argument(
        "--update-config",
        default=None,
        help="YAML: update server, vehicle id, ECUs, state and install folders, interval; runs secure "
        "update cycles in this process (docs/updates.md)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from vehicle_mw.exec import DEFAULT_SOCKET, ControlServer, ExecError, ExecutionManager

    initial = {}
    for item in args.state:
        group, sep, state = item.partition("=")
        if not sep:
            raise ExecError(f"--state wants GROUP=STATE, got {item!r}")
        initial[group] = state
    manager = ExecutionManager.from_file(args.manifest, initial_states=initial)
    install_root = args.install_root or os.environ.get("VMW_INSTALL_ROOT")
    agent = None
    if args.update_config:
        from vehicle_mw.exec.updates import UpdateAgent, load_update_settings

        settings = load_update_settings(args.update_config)
        install_root = settings.install_root
        agent = UpdateAgent(manager, settings)
    if install_root:
        from vehicle_mw.exec.updates import attach_installed
        from vehicle_mw.update.installer import Installer

        attach_installed(manager, Installer(install_root))  # before any app starts
    if agent is not None:
        agent.start()  # its first cycle waits for the loop
    path = args.control_socket or os.environ.get("VMW_CONTROL_SOCKET", DEFAULT_SOCKET)
    server = ControlServer(manager, path) if path != "none" else None

    def on_signal(signum: int, frame: object) -> None:
        manager.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        manager.run()
    finally:
        if agent is not None:
            agent.stop(timeout=5)
        if server is not None:
            server.close()
    return 0
