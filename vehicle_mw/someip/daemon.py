"""The someipy 2.x daemon, run and supervised by the runtime (users never start it).

``python -m vehicle_mw.someip.daemon_main --config FILE`` is someipy's daemon with the
workarounds of :mod:`._someipy_fixes` applied and two vehicle_mw extensions:

* *external receive endpoints*: a subscription request carrying
  ``vmw_external_endpoint`` makes the daemon do SD only; the consumer receives the
  events on its own socket (the fast path, no JSON + base64 hop per event);
* *field notifiers*: the daemon keeps the last value sent on each field notifier and
  sends it to every new subscriber right after the SubscribeAck (initial value; not on renewals).

:class:`DaemonProcess` starts it with a private socket path and stops it.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from vehicle_mw.errors import VehicleMwError


class DaemonError(VehicleMwError):
    """The someipy daemon could not be started or died."""


class DaemonProcess:
    """One someipy daemon bound to ``interface_ip``, on a private Unix socket."""

    def __init__(self, interface_ip: str, sd_address: str, sd_port: int, log_level: str = "ERROR"):
        self.interface_ip, self.sd_address, self.sd_port = interface_ip, sd_address, sd_port
        self._dir = pathlib.Path(tempfile.mkdtemp(prefix="vmw-someipyd-"))
        self.keep_log = bool(os.environ.get("VMW_SOMEIP_KEEP_LOG"))
        self.socket_path = str(self._dir / "someipyd.sock")
        self.log_path = str(self._dir / "someipyd.log")
        self._log_level = log_level
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        config = {
            "socket_path": self.socket_path,
            "interface": self.interface_ip,
            "sd_address": self.sd_address,
            "sd_port": self.sd_port,
            "log_level": self._log_level,
            "log_path": self.log_path,
            "use_tcp": False,
        }
        config_path = self._dir / "someipyd.json"
        config_path.write_text(json.dumps(config))
        pathlib.Path(self.socket_path).unlink(missing_ok=True)  # a dead daemon's socket (restart)
        with open(self._dir / "stderr.log", "ab") as stderr:  # a file: a pipe nobody reads would block it
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vehicle_mw.someip.daemon_main",
                    "--config",
                    str(config_path),
                    "--parent-pid",
                    str(os.getpid()),
                    *([] if self.keep_log else ["--owned-dir", str(self._dir)]),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DaemonError(f"someipy daemon exited with {self._proc.returncode}: {self.stderr_tail()}")
            if self._accepts():
                return
            time.sleep(0.02)
        self.stop()
        raise DaemonError(f"someipy daemon did not open {self.socket_path} within {timeout} s")

    def _accepts(self) -> bool:
        if not os.path.exists(self.socket_path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.socket_path)
            except OSError:
                return False
        return True

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            return (self._dir / "stderr.log").read_text(errors="replace").strip()[-limit:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _terminate(self, timeout: float) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Start a fresh daemon with the same socket and settings (after a crash)."""
        self._terminate(5.0)
        self.start(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._terminate(timeout)
        if self.keep_log:
            return
        for path in self._dir.glob("*"):
            path.unlink(missing_ok=True)
        if self._dir.exists():
            self._dir.rmdir()


# ---- inside the daemon process ---------------------------------------------------------------


class _ExternalEndpoint:
    """Placeholder telling someipy an endpoint exists: the consumer owns the real socket."""

    def __init__(self, ip: str, port: int):
        from someipy._internal.transport_layer_protocol import TransportLayerProtocol

        self._ip, self._port, self._protocol = ip, port, TransportLayerProtocol.UDP

    def src_ip(self) -> str:
        return self._ip

    def src_port(self) -> int:
        return self._port

    def dst_ip(self) -> int:
        return 0

    def dst_port(self) -> int:
        return 0

    def protocol(self) -> Any:
        return self._protocol

    def sendto(self, data: bytes, addr: Any) -> None:
        """Never used: method calls use their own endpoint."""

    def shutdown(self) -> None:
        """Nothing to close: the socket belongs to the consumer."""


def _subscribers(daemon: Any) -> list[list[Any]]:
    """[service, instance, eventgroup, ip, port] of every live subscriber of the services offered here."""
    out = []
    for service, subscribers in daemon._service_subscribers.items():
        subscribers.update()  # drop expired ones (someipy only does it when it sends)
        for sub in subscribers._subscribers:
            out.append([service.service_id, service.instance_id, sub.eventgroup_id, str(sub.endpoint[0]),
                        sub.endpoint[1]])  # fmt: skip
    return out


def _is_subscribed(daemon: Any, sub: Any) -> bool:
    """Whether this subscriber (eventgroup, ip, port) already has a live subscription: a renewal."""
    for service, subscribers in daemon._service_subscribers.items():
        if (service.service_id, service.instance_id) != (sub.service_id, sub.instance_id):
            continue
        subscribers.update()
        for s in subscribers._subscribers:
            if s.eventgroup_id == sub.eventgroup_id and (str(s.endpoint[0]), s.endpoint[1]) == (
                str(sub.ipv4_address),
                sub.port,
            ):
                return True
    return False


def install_extensions() -> None:
    """Add the external-endpoint and field-notifier behaviours to someipy's daemon class."""
    import someipy.someipyd as d
    from someipy._internal.transport_layer_protocol import TransportLayerProtocol
    from someipy.service import Event

    from vehicle_mw.someip import wire

    cls = d.SomeipDaemon
    subscribe, send_event, handle_sub, client_msg = (
        cls._handle_subscribe_eventgroup_request,
        cls._handle_send_event_request,
        cls._handle_subscription,
        cls.handle_client_message,
    )

    async def _subscribe(self: Any, message: dict, client_id: int) -> None:
        if message.get("vmw_external_endpoint") and message["udp"]:
            ip, port = message["client_endpoint_ip"], message["client_endpoint_port"]
            if not self._someip_client_endpoints.has_endpoint(ip, port, TransportLayerProtocol.UDP):
                self._someip_client_endpoints.add_endpoint(client_id, _ExternalEndpoint(ip, port))
        await subscribe(self, message, client_id)

    def _send_event(self: Any, message: dict, writer_id: int) -> None:
        send_event(self, message, writer_id)
        event = Event.from_json(message["event"])
        key = (message["service_id"], message["instance_id"], event.id)
        if key in getattr(self, "_vmw_notifiers", {}):
            import base64

            self._vmw_notifiers[key] = (
                message["eventgroup_id"],
                event.protocol,
                base64.b64decode(message["payload"]),
                message["src_endpoint_ip"],
                message["src_endpoint_port"],
            )

    def _subscription(self: Any, sub: Any) -> None:
        # the initial value goes to a new subscriber only (as vsomeip does), or to a renewing one it
        # did not reach yet (a TCP subscriber whose connection was not up at its first Subscribe)
        delivered = self.__dict__.setdefault("_vmw_initial_delivered", set())
        key = (sub.service_id, sub.instance_id, sub.eventgroup_id, str(sub.ipv4_address), sub.port)
        if not (sub.ttl > 0 and _is_subscribed(self, sub)):
            delivered.discard(key)
        handle_sub(self, sub)
        if sub.ttl == 0 or key in delivered:
            return
        for (sid, iid, event_id), value in getattr(self, "_vmw_notifiers", {}).items():
            if (
                value is None
                or (sid, iid) != (sub.service_id, sub.instance_id)
                or value[0] != sub.eventgroup_id
            ):
                continue
            _, protocol, payload, ip, port = value
            endpoint = self._someip_server_endpoints.get_endpoint_by_ip_port(ip, port, protocol)
            if endpoint is None:
                continue
            message = wire.build(sid, event_id, payload, interface_version=sub.major_version)
            endpoint.sendto(message, (str(sub.ipv4_address), sub.port))
            manager = getattr(endpoint, "_manager", None)  # TCP: sent only if the subscriber is connected
            if protocol != TransportLayerProtocol.TCP or (
                manager is not None and manager.get_client(str(sub.ipv4_address), sub.port) is not None
            ):
                delivered.add(key)

    async def _client_message(self: Any, sender: object, event_args: Any) -> None:
        message = event_args.message
        if message.get("type") == "VmwStatusRequest":
            from vehicle_mw.someip import _someipy_fixes as fixes

            status = {
                "type": "VmwStatusResponse",
                "active": [
                    [s.service_id, s.instance_id, s.eventgroup.id] for s in self._active_subscriptions
                ],
                "multicast": [[*key, *value] for key, value in getattr(self, "_vmw_multicast", {}).items()],
                "subscribers": _subscribers(self),
                "sd_errors": dict(fixes.SD_ERRORS),
                "message_errors": dict(fixes.MESSAGE_ERRORS),
                "subscribe_nacks": [[*k, n] for k, n in fixes.SUBSCRIBE_NACKS.items()],
            }
            queue = self._tx_queues.get(event_args.client.id)
            if queue is not None:
                queue.put_nowait(self.prepare_message(status))
            return
        if message.get("type") == "VmwFieldNotifiers":
            notifiers = self.__dict__.setdefault("_vmw_notifiers", {})
            for event_id in message["event_ids"]:
                notifiers.setdefault((message["service_id"], message["instance_id"], event_id), None)
            return
        await client_msg(self, sender, event_args)

    cls._handle_subscribe_eventgroup_request = _subscribe
    cls._handle_send_event_request = _send_event
    cls._handle_subscription = _subscription
    cls.handle_client_message = _client_message
