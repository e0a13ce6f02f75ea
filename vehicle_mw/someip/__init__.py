"""SOME/IP consumers and providers driven by service-instance manifests (optional extra ``someip``).

someipy (GPL-3.0) does service discovery through its 2.x daemon, which the runtime
starts and stops; UDP events bypass the daemon on the consumer's own socket. Needs
``pip install vehicle_mw[someip]``.
"""

from vehicle_mw.errors import VehicleMwError


class MissingExtraError(VehicleMwError):
    """someipy is not installed."""


try:
    import someipy as _someipy  # noqa: F401
except ImportError:  # pragma: no cover - exercised by a subprocess test
    raise MissingExtraError(
        "vehicle_mw.someip needs someipy: install the optional extra with pip install 'vehicle_mw[someip]'"
    ) from None

from vehicle_mw.someip import _someipy_fixes  # noqa: E402

_someipy_fixes.apply_all()

from vehicle_mw.someip.codec import CodecError, PayloadCodec, build_codec  # noqa: E402
from vehicle_mw.someip.consumer import Consumer, InputStats, SomeIpCallError  # noqa: E402
from vehicle_mw.someip.provider import Provider, ProviderError  # noqa: E402
from vehicle_mw.someip.runtime import SomeIpRuntime, SomeIpRuntimeError  # noqa: E402
from vehicle_mw.someip.samples import SampleCollector, SampleSink  # noqa: E402

__all__ = [
    "MissingExtraError",
    "SomeIpRuntime",
    "SomeIpRuntimeError",
    "Consumer",
    "Provider",
    "ProviderError",
    "SomeIpCallError",
    "InputStats",
    "SampleSink",
    "SampleCollector",
    "CodecError",
    "PayloadCodec",
    "build_codec",
]
