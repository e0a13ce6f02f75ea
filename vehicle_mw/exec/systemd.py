"""sd_notify without libsystemd: READY/STATUS/WATCHDOG datagrams to ``$NOTIFY_SOCKET``.

The protocol is one AF_UNIX datagram of ``KEY=VALUE`` lines per notification; a
socket path starting with ``@`` is in the abstract namespace. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op, so the same code runs anywhere.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("vehicle_mw.exec")


class SystemdNotifier:
    """Sends service state to systemd; knows the watchdog interval it asked for."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        self.watchdog_usec: int | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_usec = int(usec)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the configured timeout, as systemd advises)."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` fields (e.g. ``READY=1``, ``STATUS=...``); False when not under systemd."""
        if self.address is None:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)  # a slow reader must never stall supervision
            self._sock.sendto(payload, self.address)
            return True
        except BlockingIOError:
            log.debug("sd_notify to %s dropped: receiver queue full", self.address.replace("\0", "@"))
            return False
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address.replace("\0", "@"), exc)
            return False

    def ready(self, status: str) -> bool:
        return self.notify(READY=1, STATUS=status, MAINPID=os.getpid())

    def status(self, status: str) -> bool:
        return self.notify(STATUS=status)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str = "stopping applications") -> bool:
        return self.notify(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


__all__ = ["SystemdNotifier"]
