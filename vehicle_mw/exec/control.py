"""The control socket of a running ``vmw run``: status, events and function-group switches.

Protocol: connect to the AF_UNIX stream socket, send one JSON object and a
newline, read one JSON object back. Requests::

    {"cmd": "status"}
    {"cmd": "switch", "group": "Telematics", "state": "Parked"}
    {"cmd": "events", "since": 0}
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.exec.manager import ExecError, ExecutionManager

log = logging.getLogger("vehicle_mw.exec")

DEFAULT_SOCKET = "/run/vehicle_mw/control.sock"


class ControlError(VehicleMwError):
    """The control socket could not be reached or refused the request."""


class ControlServer:
    """Serves the control protocol from inside the execution manager's loop."""

    def __init__(self, manager: ExecutionManager, path: str) -> None:
        self.manager = manager
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # stale socket from a previous run
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        os.chmod(path, 0o660)
        self.sock.listen(8)
        self.sock.setblocking(False)
        manager.add_reader(self.sock, self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2.0)
            try:
                data = b""
                while not data.endswith(b"\n") and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                req = json.loads(data or b"{}")
                if not isinstance(req, dict):
                    raise ValueError("request must be a JSON object")
                reply = self.handle(req)
            except (OSError, ValueError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # a bad request must never stop supervision
                log.exception("control request failed")
                reply = {"ok": False, "error": f"internal error: {exc}"}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError as exc:
                log.info("control client went away: %s", exc)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.manager.status()}
        if cmd == "events":
            since = max(0, int(req.get("since", 0)) - self.manager.events_dropped)
            return {"ok": True, "events": [e.as_dict() for e in self.manager.events[since:]]}
        if cmd == "switch":
            try:
                self.manager.switch(str(req.get("group")), str(req.get("state")))
            except ExecError as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {cmd!r}; use status, events or switch"}

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def request(path: str, req: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a running ``vmw run`` and return its reply; raise ControlError."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps(req).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise ControlError(f"control socket {path}: {exc.strerror or exc} (is `vmw run` running?)") from None
    reply = json.loads(data)
    if not reply.get("ok"):
        raise ControlError(f"control socket {path}: {reply.get('error')}")
    return reply


__all__ = ["ControlError", "ControlServer", "DEFAULT_SOCKET", "request"]
