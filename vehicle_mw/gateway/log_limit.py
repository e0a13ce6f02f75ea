"""A logging filter that lets a repeated line through a few times per window, then counts it.

A flood of identical failures (a scan, EMFILE at accept, a slowloris storm) must not fill the
disk with tracebacks: per (logger, level, start of the message) at most ``burst`` records pass
per ``window_s``; the next one that passes says how many were suppressed. Reusable for any logger.
"""

from __future__ import annotations

import logging
import threading
import time

KEY_CHARS = 48  # JSON lines start with their event name: the key tells events apart, not peers


class RateLimitFilter(logging.Filter):
    """Drop repeats beyond ``burst`` per ``window_s`` of the same kind of line."""

    def __init__(self, burst: int = 20, window_s: float = 10.0, max_keys: int = 1024):
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.max_keys = max_keys
        self._windows: dict[tuple, list] = {}  # key -> [window start, passed, suppressed]
        self._lock = threading.Lock()
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg)[:KEY_CHARS])
        now = time.monotonic()
        with self._lock:
            win = self._windows.get(key)
            if win is None or now - win[0] >= self.window_s:
                suppressed = win[2] if win is not None else 0
                if len(self._windows) >= self.max_keys:
                    self._windows.clear()
                self._windows[key] = win = [now, 0, 0]
                if suppressed:
                    _note_suppressed(record, suppressed)
            if win[1] >= self.burst:
                win[2] += 1
                self.suppressed_total += 1
                return False
            win[1] += 1
        return True


def _note_suppressed(record: logging.LogRecord, count: int) -> None:
    msg = record.getMessage()
    if msg.startswith("{") and msg.endswith("}"):
        record.msg = f'{msg[:-1]}, "similar_suppressed": {count}}}'
    else:
        record.msg = f"{msg} [{count} similar lines suppressed]"
    record.args = None


def install(logger_names: tuple[str, ...], flt: RateLimitFilter) -> RateLimitFilter:
    """Attach ``flt`` to each named logger once (filters do not apply to child loggers)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(flt)
    return flt


__all__ = ["RateLimitFilter", "install"]
