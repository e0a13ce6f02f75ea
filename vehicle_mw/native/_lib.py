"""Loads the compiled cffi module and checks it matches this source tree."""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError

try:
    from vehicle_mw._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise VehicleMwError(
        "vehicle_mw's native core is not built: run `make native` (or `pip install .`) "
        f"to compile native/ ({exc})"
    ) from exc

if lib.vmw_can_frame_size() != 88 or lib.vmw_sample_size() != 32:  # pragma: no cover
    raise VehicleMwError("vehicle_mw._native was built from a different record layout; rebuild it")

__all__ = ["ffi", "lib"]
