"""Named workaround for structlog behaviour that costs an ECU process; it says what and why.

``defer_rich_tracebacks``: ``import structlog`` imports ``structlog.dev``, which imports rich's
traceback renderer when rich is installed -- and that pulls in pygments: +5 MB of RSS and ~50 ms
in every vehicle process, although the runtime logs JSON lines (``vehicle_mw.runtime.logs``) and
never renders a rich traceback. ``structlog.dev`` is therefore first loaded as if rich were
absent; its ConsoleRenderer then formats exceptions with the plain formatter. rich itself stays
available to the rest of the process (the terminal summary uses it). :func:`load_rich_tracebacks`
reloads ``structlog.dev`` with rich for a developer who wants its tracebacks.
"""

from __future__ import annotations

from vehicle_mw._import_fixes import hide_on_first_load, reload_with

DEV_MODULE = "structlog.dev"


def defer_rich_tracebacks() -> None:
    """Install the deferral (once), unless structlog is loaded already."""
    hide_on_first_load(DEV_MODULE, "rich")


def load_rich_tracebacks() -> bool:
    """Reload ``structlog.dev`` with rich; True when ``structlog.dev.rich_traceback`` is usable."""
    return reload_with(DEV_MODULE, "rich")


__all__ = ["defer_rich_tracebacks", "load_rich_tracebacks"]
