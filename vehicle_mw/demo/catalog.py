"""The vehicle's signal catalog as the link protocol's Catalog message (lives in vehicle_mw.runtime)."""

from __future__ import annotations

from vehicle_mw.runtime.catalog import catalog_message

__all__ = ["catalog_message"]
