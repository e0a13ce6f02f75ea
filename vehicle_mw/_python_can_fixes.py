"""Named workarounds for python-can behaviour that costs an ECU process; each says what and why.

``defer_asammdf``: python-can 4.x imports its MF4 module (``can.io.mf4``) on ``import can``, and that
module imports asammdf when it is installed -- and asammdf pulls in pandas and canmatrix: +80 MB of
RSS and ~0.5 s in every process that touches a CAN bus or cantools (cantools imports python-can),
although only replaying an ``.mf4`` log needs it. The first load of ``can.io.mf4`` therefore runs
as if asammdf were absent; :func:`load_mf4_support` reloads it with asammdf when an MF4 file is
actually opened (the reader classes python-can registered keep working: a reload refreshes the
globals of the same module object they read).

The mechanism is :mod:`vehicle_mw._import_fixes`. Installed from ``vehicle_mw/__init__.py`` so it
precedes the first ``import can`` of any of our modules; a process that imported python-can before
vehicle_mw keeps python-can's behaviour.
"""

from __future__ import annotations

from vehicle_mw._import_fixes import hide_on_first_load, reload_with

MF4_MODULE = "can.io.mf4"
_HIDDEN = "asammdf"


def defer_asammdf() -> None:
    """Install the deferral (once), unless python-can's MF4 module is loaded already."""
    hide_on_first_load(MF4_MODULE, _HIDDEN)


def load_mf4_support() -> bool:
    """Give python-can's MF4 reader/writer their asammdf (before opening an ``.mf4`` file).
    Returns whether asammdf is usable; False leaves python-can's own "asammdf not found" error."""
    return reload_with(MF4_MODULE, _HIDDEN)


__all__ = ["defer_asammdf", "load_mf4_support"]
