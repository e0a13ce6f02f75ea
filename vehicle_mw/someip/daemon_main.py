"""Entry point of the someipy daemon process: ``python -m vehicle_mw.someip.daemon_main --config FILE``.

someipy's daemon with vehicle_mw's workarounds and extensions installed (see
:mod:`vehicle_mw.someip.daemon`); started by :class:`~vehicle_mw.someip.daemon.DaemonProcess`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time

PARENT_POLL_S = 0.1


def watch_parent(parent_pid: int, owned_dir: str | None) -> threading.Thread:
    """Exit when the host process is gone (a SIGKILLed host cannot stop us): a daemon left behind
    would keep the SD port, the multicast group and its temporary directory."""

    def run() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        if owned_dir:
            shutil.rmtree(owned_dir, ignore_errors=True)
        os._exit(0)

    thread = threading.Thread(target=run, name="vmw-parent-watch", daemon=True)
    thread.start()
    return thread


def main() -> None:
    import someipy.someipyd

    from vehicle_mw.someip import _someipy_fixes
    from vehicle_mw.someip.daemon import install_extensions

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--owned-dir")
    ours, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]  # someipy's main parses --config and refuses anything else
    if ours.parent_pid:
        watch_parent(ours.parent_pid, ours.owned_dir)
    _someipy_fixes.apply_all()
    install_extensions()
    someipy.someipyd.main()


if __name__ == "__main__":
    main()
