"""What a supervised application calls: ``report_running()``, ``heartbeat()``, ``checkpoint(name)``.

    from vehicle_mw.exec import client

    client.report_running()          # once initialised: dependants may start now
    while True:
        client.checkpoint("read")
        ...
        client.checkpoint("publish")
        client.heartbeat()           # alive supervision counts these per window

The execution manager passes the health block and checkpoint names in the
environment (``VMW_HEALTH_BLOCK``, ``VMW_CHECKPOINTS``). Outside ``vmw run`` every
call is a cheap no-op returning False, so the same code runs stand-alone.
"""

from __future__ import annotations

import os
import time

from vehicle_mw.exec.health_block import HealthBlock

ENV_BLOCK = "VMW_HEALTH_BLOCK"
ENV_CHECKPOINTS = "VMW_CHECKPOINTS"
ENV_APP = "VMW_APP_NAME"

_block: HealthBlock | None = None
_checkpoints: dict[str, int] = {}
_opened = False


def _get() -> HealthBlock | None:
    global _block, _opened, _checkpoints
    if not _opened:
        _opened = True
        path = os.environ.get(ENV_BLOCK)
        if path:
            _block = HealthBlock.open(path)
            names = [n for n in os.environ.get(ENV_CHECKPOINTS, "").split(",") if n]
            _checkpoints = {name: i for i, name in enumerate(names)}
    return _block


def app_name() -> str | None:
    """This application's name in the execution manifest (None outside ``vmw run``)."""
    return os.environ.get(ENV_APP)


def report_running() -> bool:
    """Tell the manager initialisation is done (apps depending on this one start now)."""
    block = _get()
    if block is None:
        return False
    block.set_running()
    return True


def heartbeat() -> bool:
    """One alive indication; alive supervision checks the count per window."""
    block = _get()
    if block is None:
        return False
    block.heartbeat()
    return True


def checkpoint(name: str) -> bool:
    """Report reaching checkpoint ``name`` (declared in the manifest's ``supervision.checkpoints``)."""
    block = _get()
    if block is None:
        return False
    try:
        index = _checkpoints[name]
    except KeyError:
        raise ValueError(f"checkpoint {name!r} is not declared; declared: {sorted(_checkpoints)}") from None
    block.checkpoint(index, time.monotonic_ns())
    return True


__all__ = ["app_name", "checkpoint", "heartbeat", "report_running"]
