"""vehicle_mw: automotive middleware runtime for AUTOSAR Adaptive-style Linux ECUs.

Layers, bottom up (each talks to the next through its package ``__init__``):
``native`` (C rings, sleep, decoder) <- ``rt`` / ``exec`` <- ``can`` / ``someip`` /
``signals`` <- ``campaign`` <- ``store`` <- ``channel``; ``gateway`` is the cloud side
and shares only the protocol (``proto/``) and record formats with the vehicle.
"""

from vehicle_mw._python_can_fixes import defer_asammdf
from vehicle_mw._structlog_fixes import defer_rich_tracebacks
from vehicle_mw.errors import VehicleMwError

defer_asammdf()  # before any `import can`: see vehicle_mw/_python_can_fixes.py
defer_rich_tracebacks()  # before any `import structlog`: see vehicle_mw/_structlog_fixes.py

__version__ = "0.1.0"

__all__ = ["VehicleMwError", "__version__"]
