"""The root of every error vehicle_mw raises on purpose.

Catch ``VehicleMwError`` to handle anything the runtime reports; each module
derives its own errors from it so messages name the file, field or peer.
"""


class VehicleMwError(Exception):
    """Base class of all vehicle_mw errors."""
