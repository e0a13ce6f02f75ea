"""Prometheus metrics of the channel (default registry, created once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SWITCHES = Counter(
    "vmw_channel_switches",
    "transport switches, by reason class",
    ["from_transport", "to_transport", "reason"],
)
CONNECTS = Counter("vmw_channel_connects", "sessions established", ["transport"])
CONNECT_FAILURES = Counter("vmw_channel_connect_failures", "connect or handshake failures", ["transport"])
BATCHES_SENT = Counter(
    "vmw_channel_batches_sent", "SampleBatch messages sent (resends included)", ["transport"]
)
BATCHES_ACKED = Counter("vmw_channel_batches_acked", "batches acknowledged by the gateway")
RTT_MS = Gauge("vmw_channel_rtt_ms", "smoothed RTT (RFC 6298)", ["transport"])
RTTVAR_MS = Gauge("vmw_channel_rttvar_ms", "RTT variance (RFC 6298)", ["transport"])
LOSS = Gauge("vmw_channel_loss_ratio", "probe loss ratio over the sliding window", ["transport"])
LINK_UP = Gauge("vmw_channel_link_up", "1 while the link's session is up and answering", ["transport"])
ACTIVE = Gauge("vmw_channel_active", "1 for the transport carrying data", ["transport"])
BACKLOG = Gauge("vmw_channel_backlog_batches", "batches in the outbox not yet acknowledged")
EVICTED = Gauge("vmw_outbox_evicted_records", "records the outbox evicted under its size bound")


def reason_class(reason: str) -> str:
    """Low-cardinality label from a free-text reason ('rtt 300 ms > 250 ms' -> 'rtt')."""
    return (
        reason.split(" ", 1)[0]
        if reason.split(" ", 1)[0] in ("rtt", "loss")
        else reason.split("(")[0].strip()
    )


__all__ = [
    "ACTIVE",
    "BACKLOG",
    "BATCHES_SENT",
    "CONNECTS",
    "CONNECT_FAILURES",
    "EVICTED",
    "LINK_UP",
    "LOSS",
    "RTTVAR_MS",
    "RTT_MS",
    "BATCHES_ACKED",
    "SWITCHES",
    "reason_class",
]
