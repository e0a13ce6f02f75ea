"""The receiver side: the profile check (CRC, length, data id), the counter check, the status.

Status per received element (the profiles' check statuses):

- ERROR: CRC, length or data id wrong (the library's check failed);
- REPEATED: same counter as the last accepted element (delta 0);
- OK: counter advanced by exactly one;
- OK_SOME_LOST: advanced by 2..``max_delta_counter`` (some elements lost, the stream still holds);
- WRONG_SEQUENCE: advanced by more than ``max_delta_counter`` (or went back);
- NO_NEW_DATA: :meth:`E2EReceiver.no_new_data`, e.g. a cycle passed without an element.

The expected counter starts as if the last one seen were the profile's maximum, so a stream that
starts at 0 is OK from its first element, and one joined mid-way starts with WRONG_SEQUENCE and
then goes on (the state machine moves to INIT on it and waits for OK results).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from vehicle_mw.e2e.errors import E2EConfigError
from vehicle_mw.e2e.profiles import check_layout, profile

if TYPE_CHECKING:
    from vehicle_mw.e2e.state_machine import E2EState, SMConfig


class E2EStatus(enum.Enum):
    OK = "ok"
    REPEATED = "repeated"
    WRONG_SEQUENCE = "wrong_sequence"
    OK_SOME_LOST = "ok_some_lost"
    ERROR = "error"
    NO_NEW_DATA = "no_new_data"


class CounterCheck:
    """The counter part of the check, on its own (profiles without a library check, CAN alive
    counters)."""

    def __init__(self, counter_max: int, max_delta_counter: int) -> None:
        if not 1 <= max_delta_counter <= counter_max:
            raise E2EConfigError(f"E2E max_delta_counter must be 1..{counter_max}, got {max_delta_counter}")
        self.counter_max = counter_max
        self.max_delta = max_delta_counter
        self.last = counter_max

    def check(self, counter: int) -> E2EStatus:
        delta = (counter - self.last) % (self.counter_max + 1)
        if delta == 0:
            return E2EStatus.REPEATED
        self.last = counter
        if delta == 1:
            return E2EStatus.OK
        return E2EStatus.OK_SOME_LOST if delta <= self.max_delta else E2EStatus.WRONG_SEQUENCE


class E2EReceiver:
    """The receiver of one data element: check each element, step the state machine, count."""

    def __init__(
        self,
        name: str,
        data_id: int,
        *,
        max_delta_counter: int = 1,
        offset: int = 0,
        sm: SMConfig | None = None,
    ) -> None:
        from vehicle_mw.e2e.state_machine import StateMachine

        self.profile = profile(name)
        check_layout(self.profile, data_id, offset, None)
        self.data_id = data_id
        self.offset = offset
        self.counter = CounterCheck(self.profile.counter_max, max_delta_counter)
        self.machine = StateMachine(sm)
        self.counts: dict[E2EStatus, int] = dict.fromkeys(E2EStatus, 0)
        self.last_status: E2EStatus | None = None

    def status_of(self, data: bytes | bytearray | memoryview) -> E2EStatus:
        """The check status of one element (updates the expected counter, not the state)."""
        prof = self.profile
        if len(data) < self.offset + prof.header_size or not prof.check(
            data, self.data_id, length=len(data), offset=self.offset
        ):
            return E2EStatus.ERROR
        return self.counter.check(prof.counter(data, self.offset))

    def check(self, data: bytes | bytearray | memoryview) -> E2EState:
        """Check one received element; returns the state after it (VALID: use the data)."""
        return self._record(self.status_of(data))

    def no_new_data(self) -> E2EState:
        """A reception cycle passed without an element."""
        return self._record(E2EStatus.NO_NEW_DATA)

    def _record(self, status: E2EStatus) -> E2EState:
        self.counts[status] += 1
        self.last_status = status
        return self.machine.step(status)

    @property
    def state(self) -> E2EState:
        return self.machine.state

    def stats(self) -> dict[str, object]:
        """Counts per status and the current state, for counters and metrics."""
        return {
            "state": self.state.value,
            "transitions": self.machine.transitions,
            **{s.value: n for s, n in self.counts.items()},
        }


__all__ = ["CounterCheck", "E2EReceiver", "E2EStatus"]
