"""The SOME/IP runtime: owns the someipy daemon and the consumers and providers using it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.someip import ServiceDiscovery, SomeIpService
from vehicle_mw.someip.consumer import Consumer
from vehicle_mw.someip.daemon import DaemonProcess
from vehicle_mw.someip.provider import MethodHandler, Provider
from vehicle_mw.someip.samples import SampleSink


class SomeIpRuntimeError(VehicleMwError):
    """The runtime cannot serve a request (e.g. services with different SD settings)."""


ANSWER_TIMEOUT = 2.0  # seconds the local daemon may take to answer a find/status request
log = logging.getLogger("vehicle_mw.someip.runtime")


def _daemon_client_class() -> type:
    from someipy._internal._daemon.someipy_daemon_client import SomeIpDaemonClient

    class LockedDaemonClient(SomeIpDaemonClient):
        """someipy's client with find requests serialized: concurrent ones would swap their answers."""

        def __init__(self, config: dict[str, Any]):
            super().__init__(config)
            self._find_lock = asyncio.Lock()

        async def _find_service(self, *args: Any) -> Any:
            async with self._find_lock:
                try:  # bounded: a daemon that died never answers, and the lock must not stay taken
                    return await asyncio.wait_for(super()._find_service(*args), ANSWER_TIMEOUT)
                except TimeoutError:
                    return None

        async def vmw_status(self) -> dict[str, Any]:
            """Active subscriptions and dropped-input counters of the daemon (a vehicle_mw extension)."""
            async with self._find_lock:
                self.transmit_message_to_daemon({"type": "VmwStatusRequest"})
                try:
                    reply = await asyncio.wait_for(self._rx_message_queue.get(), ANSWER_TIMEOUT)
                except TimeoutError:
                    raise SomeIpRuntimeError(
                        f"someipy daemon gave no status within {ANSWER_TIMEOUT} s"
                    ) from None
                self._rx_message_queue.task_done()
            if reply.get("type") != "VmwStatusResponse":
                raise SomeIpRuntimeError(f"unexpected reply from the someipy daemon: {reply.get('type')}")
            return reply

    return LockedDaemonClient


class SomeIpRuntime:
    """Start with ``async with SomeIpRuntime(interface_ip) as rt:``; then :meth:`consume` / :meth:`provide`.

    The someipy daemon (with vehicle_mw's workarounds) is started on first use with
    the SD settings of the first service and stopped on exit.
    """

    def __init__(self, interface_ip: str, log_level: str = "ERROR"):
        import logging

        from someipy.someipy_logging import set_someipy_log_level

        self.interface_ip = interface_ip
        self._log_level = log_level
        set_someipy_log_level(getattr(logging, log_level))  # someipy logs to stdout; keep it quiet
        self._sd: ServiceDiscovery | None = None
        self.daemon: DaemonProcess | None = None
        self._client: Any = None
        self.consumers: list[Consumer] = []
        self.restarts = 0  # times the daemon died and was restarted
        self._supervisor: asyncio.Task[None] | None = None
        self.providers: list[Provider] = []

    async def __aenter__(self) -> SomeIpRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _ensure_daemon(self, sd: ServiceDiscovery) -> Any:
        if self._sd is None:
            self._sd = sd
            self.daemon = DaemonProcess(
                self.interface_ip,
                sd.multicast_address,
                sd.port,
                os.environ.get("VMW_SOMEIPYD_LOG", self._log_level),
            )
            await asyncio.to_thread(self.daemon.start)
            self._client = _daemon_client_class()({"socket_path": self.daemon.socket_path, "use_tcp": False})
            await self._client._connect_to_daemon()
            self._supervisor = asyncio.create_task(self._supervise())
        elif (sd.multicast_address, sd.port) != (self._sd.multicast_address, self._sd.port):
            raise SomeIpRuntimeError(
                f"one runtime runs one SD: {sd.multicast_address}:{sd.port} differs from "
                f"{self._sd.multicast_address}:{self._sd.port}"
            )
        return self._client

    async def consume(
        self,
        service: SomeIpService,
        sink: SampleSink | None = None,
        poll_interval: float = 0.1,
        rt_priority: int | None = None,
    ) -> Consumer:
        """Find, subscribe and decode ``service``; samples go to ``sink`` (anything with ``push_batch``).

        ``poll_interval``: how often availability is checked (loss is noticed within it);
        ``rt_priority``: SCHED_FIFO priority of the event receiver thread (root/CAP_SYS_NICE).
        """
        client = await self._ensure_daemon(service.sd)
        consumer = Consumer(service, self.interface_ip, client, sink)
        await consumer.start(poll_interval, rt_priority)
        self.consumers.append(consumer)
        return consumer

    async def provide(
        self,
        service: SomeIpService,
        handlers: Mapping[str, MethodHandler] | None = None,
        fast_events: bool = True,
    ) -> Provider:
        """Offer ``service``; ``handlers`` maps method names to functions (value -> value, may be async).

        ``fast_events``: send UDP events from a raw socket (needs CAP_NET_RAW) instead of through the
        daemon; without the capability the daemon sends them.
        """
        client = await self._ensure_daemon(service.sd)
        provider = Provider(service, self.interface_ip, client, handlers, fast_events)
        await provider.start()
        self.providers.append(provider)
        return provider

    async def _supervise(self, interval: float = 0.2) -> None:
        """Restart a daemon that died, then offer and subscribe again what was offered and subscribed."""
        while True:
            await asyncio.sleep(interval)
            if self.daemon is None or self.daemon.running:
                continue
            log.error("someipy daemon died (%s); restarting it", self.daemon.stderr_tail(300) or "no output")
            try:
                await asyncio.to_thread(self.daemon.restart)
                await self._client._disconnected_from_daemon()
                await self._client._connect_to_daemon()
                for provider in self.providers:
                    await provider.restart()
                for consumer in self.consumers:
                    consumer.subscribe()
                self.restarts += 1
            except Exception:  # keep supervising; the next round tries again
                log.exception("restarting the someipy daemon failed")

    async def status(self) -> dict[str, Any]:
        """The daemon's view: active subscriptions, malformed SD/SOME/IP datagrams dropped per peer."""
        if self._client is None:
            return {"active": [], "sd_errors": {}, "message_errors": {}}
        return await self._client.vmw_status()

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        for consumer in self.consumers:
            await consumer.close()
        for provider in self.providers:
            await provider.stop()
        self.consumers.clear()
        self.providers.clear()
        if self._client is not None:
            try:
                await self._client.disconnect_from_daemon()
            except (TimeoutError, OSError):
                pass
            self._client = None
        if self.daemon is not None:
            await asyncio.to_thread(self.daemon.stop)
            self.daemon = None
        self._sd = None


__all__ = ["SomeIpRuntime", "SomeIpRuntimeError"]
