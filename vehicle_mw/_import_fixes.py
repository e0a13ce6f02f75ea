"""Load a third-party module the first time as if one of its optional imports were absent.

Some libraries import a heavy optional dependency at import time although only a rarely used
feature needs it (python-can's MF4 module and asammdf; structlog's dev module and rich's
tracebacks). An ECU process pays for that in RSS and start-up time on every run. A
:class:`HideOnFirstLoad` finder wraps the real loader of one module so that its first execution
sees ``import <hidden>`` fail; :func:`reload_with` runs it again with the dependency when the
feature is really wanted. The named fixes built on this live beside the library they concern
(``_python_can_fixes``, ``_structlog_fixes``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types


class _HidingLoader(importlib.abc.Loader):
    """Wraps the real loader: the first execution sees no ``hidden`` module."""

    def __init__(self, real: importlib.abc.Loader, hidden: str) -> None:
        self.real = real
        self.hidden = hidden
        self.hide = True

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if not self.hide or self.hidden in sys.modules:  # enabled, or loaded anyway
            self.real.exec_module(module)
            return
        sys.modules[self.hidden] = None  # type: ignore[assignment]  # `import hidden` -> ImportError
        try:
            self.real.exec_module(module)
        finally:
            del sys.modules[self.hidden]


class HideOnFirstLoad(importlib.abc.MetaPathFinder):
    """Finds ``module`` with the other finders and wraps its loader in a hiding one."""

    def __init__(self, module: str, hidden: str) -> None:
        self.module = module
        self.hidden = hidden

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - the finder protocol
        if fullname != self.module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HidingLoader(spec.loader, self.hidden)
                return spec
        return None


def hide_on_first_load(module: str, hidden: str) -> None:
    """Install the finder (once per module), unless ``module`` is loaded already."""
    if module in sys.modules:
        return
    if any(isinstance(f, HideOnFirstLoad) and f.module == module for f in sys.meta_path):
        return
    sys.meta_path.insert(0, HideOnFirstLoad(module, hidden))


def reload_with(module_name: str, attr: str) -> bool:
    """Import ``module_name`` (if needed) and, when its ``attr`` is None because the dependency was
    hidden, reload it with the dependency. Returns whether ``attr`` is usable now."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    if getattr(module, attr, None) is not None:
        return True
    loader = getattr(module.__spec__, "loader", None)
    hidden = loader.hidden if isinstance(loader, _HidingLoader) else attr
    try:
        importlib.import_module(hidden)
    except ImportError:
        return False
    if isinstance(loader, _HidingLoader):
        loader.hide = False
    importlib.reload(module)
    return getattr(module, attr, None) is not None


__all__ = ["HideOnFirstLoad", "hide_on_first_load", "reload_with"]
