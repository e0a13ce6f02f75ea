"""Named workarounds for python-can behaviour that costs an ECU process; each says what and why.

``defer_asammdf``: python-can 4.x imports its MF4 module (``can.io.mf4``) on ``import can``, and that
module imports asammdf when it is installed -- and asammdf pulls in pandas and canmatrix: +80 MB of
RSS and ~0.5 s in every process that touches a CAN bus or cantools (cantools imports python-can),
although only replaying an ``.mf4`` log needs it. The first load of ``can.io.mf4`` therefore runs
as if asammdf were absent; :func:`load_mf4_support` reloads it with asammdf when an MF4 file is
actually opened (the reader classes python-can registered keep working: a reload refreshes the
globals of the same module object they read).

Installed from ``vehicle_mw/__init__.py`` so it precedes the first ``import can`` of any of our
modules; a process that imported python-can before vehicle_mw keeps python-can's behaviour.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

MF4_MODULE = "can.io.mf4"
_HIDDEN = "asammdf"


class _DeferredLoader(importlib.abc.Loader):
    """Wraps the real loader of ``can.io.mf4``: the first execution sees no asammdf."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real
        self.hide = True

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if not self.hide or _HIDDEN in sys.modules:  # enabled, or asammdf is loaded anyway
            self.real.exec_module(module)
            return
        sys.modules[_HIDDEN] = None  # type: ignore[assignment]  # `import asammdf` -> ImportError
        try:
            self.real.exec_module(module)
        finally:
            del sys.modules[_HIDDEN]


class _DeferAsammdf(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - the finder protocol
        if fullname != MF4_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _DeferredLoader(spec.loader)
                return spec
        return None


def defer_asammdf() -> None:
    """Install the finder (once), unless python-can's MF4 module is loaded already."""
    if MF4_MODULE in sys.modules or any(isinstance(f, _DeferAsammdf) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _DeferAsammdf())


def load_mf4_support() -> bool:
    """Give python-can's MF4 reader/writer their asammdf (before opening an ``.mf4`` file).
    Returns whether asammdf is usable; False leaves python-can's own "asammdf not found" error."""
    module = sys.modules.get(MF4_MODULE)
    if module is None:
        importlib.import_module(MF4_MODULE)
        module = sys.modules[MF4_MODULE]
    if getattr(module, "asammdf", None) is not None:
        return True
    try:
        importlib.import_module(_HIDDEN)
    except ImportError:
        return False
    loader = getattr(module.__spec__, "loader", None)
    if isinstance(loader, _DeferredLoader):
        loader.hide = False
    importlib.reload(module)
    return getattr(module, "asammdf", None) is not None


__all__ = ["defer_asammdf", "load_mf4_support"]
