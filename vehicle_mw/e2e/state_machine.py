"""The E2E state machine: is the checked stream usable now? (AUTOSAR E2E_SMCheck semantics.)

Each check result enters a sliding window of the last ``window_size`` results; the state follows
the counts of OK and ERROR results in it:

- NODATA: nothing usable seen yet; the first result that is neither ERROR nor NO_NEW_DATA
  moves to INIT.
- INIT: VALID once ``ok >= min_ok_state_init`` with ``errors <= max_error_state_init``;
  INVALID when ``errors > max_error_state_init``.
- VALID: stays while ``ok >= min_ok_state_valid`` and ``errors <= max_error_state_valid``, else
  INVALID.
- INVALID: back to VALID once ``ok >= min_ok_state_invalid`` and
  ``errors <= max_error_state_invalid``.

REPEATED, WRONG_SEQUENCE and NO_NEW_DATA count as neither OK nor ERROR (they still push the older
results out of the window); OK_SOME_LOST counts as OK, as the profiles' status mapping does.
``clear_to_invalid`` empties the window on each move to INVALID, so recovering needs
``min_ok_state_invalid`` fresh OK results.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from vehicle_mw.e2e.check import E2EStatus
from vehicle_mw.e2e.errors import E2EConfigError

_OK = (E2EStatus.OK, E2EStatus.OK_SOME_LOST)


class E2EState(enum.Enum):
    NODATA = "nodata"
    INIT = "init"
    VALID = "valid"
    INVALID = "invalid"


@dataclass(frozen=True)
class SMConfig:
    """The state machine's parameters (AUTOSAR E2E_SMConfigType, one window for all states)."""

    window_size: int = 3
    min_ok_state_init: int = 1
    max_error_state_init: int = 1
    min_ok_state_valid: int = 1
    max_error_state_valid: int = 1
    min_ok_state_invalid: int = 2
    max_error_state_invalid: int = 0
    clear_to_invalid: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.window_size <= 1024:
            raise E2EConfigError(f"E2E window_size must be 1..1024, got {self.window_size}")
        for name in (
            "min_ok_state_init",
            "min_ok_state_valid",
            "min_ok_state_invalid",
            "max_error_state_init",
            "max_error_state_valid",
            "max_error_state_invalid",
        ):
            value = getattr(self, name)
            if not 0 <= value <= self.window_size:
                raise E2EConfigError(f"E2E {name} must be 0..window_size ({self.window_size}), got {value}")


class StateMachine:
    """One receiver's state; :meth:`step` takes each check result and returns the new state."""

    def __init__(self, config: SMConfig | None = None) -> None:
        self.config = config or SMConfig()
        self.state = E2EState.NODATA
        self._window: deque[E2EStatus] = deque(maxlen=self.config.window_size)
        self.transitions = 0

    def counts(self) -> tuple[int, int]:
        """(OK, ERROR) results in the window."""
        ok = sum(1 for s in self._window if s in _OK)
        return ok, sum(1 for s in self._window if s is E2EStatus.ERROR)

    def step(self, status: E2EStatus) -> E2EState:
        cfg, old = self.config, self.state
        if old is E2EState.NODATA:
            if status in (E2EStatus.ERROR, E2EStatus.NO_NEW_DATA):
                return old
            self._window.clear()
            self._window.append(status)
            self._move(E2EState.INIT)
        else:
            self._window.append(status)
        ok, errors = self.counts()
        state = self.state
        if state is E2EState.INIT:
            if errors > cfg.max_error_state_init:
                self._move(E2EState.INVALID)
            elif ok >= cfg.min_ok_state_init:
                self._move(E2EState.VALID)
        elif state is E2EState.VALID:
            if not (ok >= cfg.min_ok_state_valid and errors <= cfg.max_error_state_valid):
                self._move(E2EState.INVALID)
        elif state is E2EState.INVALID:
            if ok >= cfg.min_ok_state_invalid and errors <= cfg.max_error_state_invalid:
                self._move(E2EState.VALID)
        return self.state

    def _move(self, state: E2EState) -> None:
        if state is self.state:
            return
        self.state = state
        self.transitions += 1
        if state is E2EState.INVALID and self.config.clear_to_invalid:
            self._window.clear()


__all__ = ["E2EState", "SMConfig", "StateMachine"]
