"""Prometheus metrics of one gateway (own registry, so several gateways can share a process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class GatewayMetrics:
    """Counters and gauges exported on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Counter(
            "vmw_gateway_connections", "connections accepted", ["transport"], registry=r
        )
        self.sessions = Gauge("vmw_gateway_sessions", "vehicles in a session now", ["transport"], registry=r)
        self.refused = Counter(
            "vmw_gateway_refused", "connections refused or closed by an Error", ["code"], registry=r
        )
        self.batches = Counter("vmw_gateway_batches", "sample batches received", ["result"], registry=r)
        self.samples = Counter("vmw_gateway_samples_stored", "samples made durable", registry=r)
        self.bytes_in = Counter(
            "vmw_gateway_uplink_bytes", "Uplink bytes received", ["transport"], registry=r
        )
        self.commit_seconds = Histogram(
            "vmw_gateway_commit_seconds",
            "duration of one storage commit",
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
        )
        self.commands = Counter("vmw_gateway_commands", "downlink commands", ["result"], registry=r)
        self.preauth_connections = Gauge(
            "vmw_gateway_preauth_connections", "connections not yet authenticated", ["transport"], registry=r
        )
        self.preauth_bytes = Counter(
            "vmw_gateway_preauth_bytes", "bytes received before authentication", ["transport"], registry=r
        )
        self.preauth_refused = Counter(
            "vmw_gateway_preauth_refused",
            "connections closed before authentication (over the limit, too large, too slow)",
            ["reason"],
            registry=r,
        )


class VehicleGauges(Collector):
    """Per-vehicle gauges, read from the gateway's in-memory fleet at each scrape: link RTT, loss,
    transport (``vmw_gateway_vehicle_transport{transport=...} 1`` for the one in use), connected, outbox
    backlog. At most ``max_vehicles`` vehicles are exported (label cardinality stays bounded): the
    connected ones first, then those whose state changed most recently; the oldest are dropped and
    counted in ``vmw_gateway_vehicle_gauges_dropped``. ``max_vehicles`` 0 exports none."""

    def __init__(
        self, vehicles: Mapping[str, Any], max_vehicles: int, clock: Callable[[], float] = time.monotonic
    ):
        self._vehicles = vehicles  # vehicle id -> VehicleState
        self.max_vehicles = max_vehicles
        self._clock = clock
        self._seen: dict[str, tuple[int, int, float]] = {}  # id -> (status identity, session identity, when)

    def _changed_at(self, vid: str, state: Any, now: float) -> float:
        mark = (id(state.last_status), id(state.session))
        old = self._seen.get(vid)
        if old is not None and old[:2] == mark:
            return old[2]
        self._seen[vid] = (*mark, now)
        return now

    def chosen(self) -> list[tuple[str, Any]]:
        """The vehicles exported now, newest first."""
        now = self._clock()
        items = list(self._vehicles.items())
        ranked = sorted(
            items,
            key=lambda kv: (kv[1].session is not None, self._changed_at(kv[0], kv[1], now), kv[0]),
            reverse=True,
        )
        for vid in set(self._seen) - set(self._vehicles):
            del self._seen[vid]
        return ranked[: self.max_vehicles]

    def collect(self):
        items = list(self._vehicles)
        chosen = self.chosen()
        rtt = GaugeMetricFamily(
            "vmw_gateway_vehicle_rtt_ms", "link RTT the vehicle last reported", labels=["vehicle"]
        )
        loss = GaugeMetricFamily(
            "vmw_gateway_vehicle_loss", "link loss ratio the vehicle last reported", labels=["vehicle"]
        )
        transport = GaugeMetricFamily(
            "vmw_gateway_vehicle_transport",
            "1 for the transport the vehicle uses",
            labels=["vehicle", "transport"],
        )
        connected = GaugeMetricFamily(
            "vmw_gateway_vehicle_connected", "1 while in a session", labels=["vehicle"]
        )
        records = GaugeMetricFamily(
            "vmw_gateway_vehicle_outbox_records", "outbox backlog (records) last reported", labels=["vehicle"]
        )
        nbytes = GaugeMetricFamily(
            "vmw_gateway_vehicle_outbox_bytes", "outbox backlog (bytes) last reported", labels=["vehicle"]
        )
        for vid, state in chosen:
            st, s = state.last_status, state.session
            connected.add_metric([vid], 1.0 if s is not None else 0.0)
            used = (st.transport if st is not None and st.transport else None) or (s.transport if s else None)
            if used:
                transport.add_metric([vid, used], 1.0)
            if st is not None:
                rtt.add_metric([vid], st.rtt_ms)
                loss.add_metric([vid], st.loss)
                records.add_metric([vid], float(st.outbox_records))
                nbytes.add_metric([vid], float(st.outbox_bytes))
        dropped = GaugeMetricFamily(
            "vmw_gateway_vehicle_gauges_dropped",
            "vehicles left out of the per-vehicle gauges (over metrics_max_vehicles)",
            value=float(len(items) - len(chosen)),
        )
        yield from (rtt, loss, transport, connected, records, nbytes, dropped)

    def describe(self):
        return []  # unchecked collector: its families are known at scrape time


__all__ = ["GatewayMetrics", "VehicleGauges"]
