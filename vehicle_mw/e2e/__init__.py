"""AUTOSAR E2E protection (profiles 4, 5 and 7) with the receiver's state machine.

A provider protects each data element (length, counter, data id and CRC written into its E2E
header); a consumer checks it and feeds the result to the E2E state machine, which says whether
the stream is usable right now (VALID) or not (INIT, INVALID, NODATA). The CRCs and the header
writes are the MIT-licensed ``autosar-e2e`` package's C code; the per-receiver counter check and
the state machine, which it does not have, are here. Protocol neutral: SOME/IP events and fields
and CAN signals use the same objects.

>>> from vehicle_mw.e2e import E2EProtector, E2EReceiver, SMConfig
>>> tx = E2EProtector("P04", data_id=0x0A0B0C0D)
>>> rx = E2EReceiver("P04", data_id=0x0A0B0C0D, max_delta_counter=2, sm=SMConfig(window_size=3,
...                  min_ok_state_init=2, min_ok_state_valid=2, min_ok_state_invalid=3))
>>> frames = [tx.protect(bytearray(16)) for _ in range(3)]
>>> [rx.check(f).name for f in frames]
['INIT', 'VALID', 'VALID']
>>> rx.last_status.name
'OK'
"""

from vehicle_mw.e2e.check import CounterCheck, E2EReceiver, E2EStatus
from vehicle_mw.e2e.errors import E2EConfigError
from vehicle_mw.e2e.profiles import PROFILES, E2EProtector, Profile, profile
from vehicle_mw.e2e.state_machine import E2EState, SMConfig, StateMachine

__all__ = [
    "PROFILES",
    "CounterCheck",
    "E2EConfigError",
    "E2EProtector",
    "E2EReceiver",
    "E2EState",
    "E2EStatus",
    "Profile",
    "SMConfig",
    "StateMachine",
    "profile",
]
