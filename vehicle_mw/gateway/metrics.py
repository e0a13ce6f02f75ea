"""Prometheus metrics of one gateway (own registry, so several gateways can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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


__all__ = ["GatewayMetrics"]
