"""Prometheus metrics of a running runtime, built from the per-stage counters at scrape time.

A collector reads the same counters ``vmw vehicle status`` shows (live in threads mode, the stages'
files in process mode), so the metrics never disagree with the status and cost nothing between
scrapes. Served on 127.0.0.1 by default (``runtime.metrics_port`` in the machine manifest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

Counters = Callable[[], dict[str, dict[str, Any]]]

_BUS_COUNTERS = (  # (stage, key, metric, help)
    ("can", "frames", "vmw_can_frames", "CAN frames committed to the bus's frame ring"),
    ("can", "dropped", "vmw_can_frames_dropped", "frames a full frame ring refused (live buses)"),
    ("decode", "decoded", "vmw_decoded_frames", "frames decoded"),
    ("decode", "unknown_ids", "vmw_unknown_id_frames", "frames of ids no database of the bus describes"),
    ("decode", "too_short", "vmw_too_short_frames", "frames shorter than their message"),
    ("decode", "samples", "vmw_decoded_samples", "signal values decoded"),
    ("decode", "sample_ring_drops", "vmw_sample_ring_drops", "samples a full sample ring refused"),
)
_UPLINK_GAUGES = (
    ("backlog_batches", "vmw_outbox_backlog_batches", "batches in the outbox not yet acknowledged"),
    ("backlog_samples", "vmw_outbox_backlog_samples", "samples in the outbox not yet acknowledged"),
    ("acked_seq", "vmw_outbox_acked_seq", "highest batch seq the gateway acknowledged"),
)
_UPLINK_COUNTERS = (
    ("samples_stored", "vmw_outbox_samples", "samples stored in the outbox"),
    ("duplicates_dropped", "vmw_outbox_duplicates_dropped", "samples offered again after a restart, dropped"),
    ("switches", "vmw_link_switches", "transport switches"),
)


class RuntimeCollector:
    def __init__(self, counters: Counters, deployment: str):
        self.counters = counters
        self.deployment = deployment

    def collect(self) -> Iterator[Any]:
        c = self.counters()
        dep = self.deployment
        up = GaugeMetricFamily("vmw_stage_up", "stage publishing counters", labels=["deployment", "stage"])
        for stage in c:
            up.add_metric([dep, stage], 1)
        yield up
        for stage, key, name, text in _BUS_COUNTERS:
            fam = CounterMetricFamily(name, text, labels=["deployment", "bus"])
            for bus, vals in c.get(stage, {}).get("buses", {}).items():
                if key in vals:
                    fam.add_metric([dep, bus], float(vals[key]))
            yield fam
        uplink = c.get("uplink", {})
        for key, name, text in _UPLINK_GAUGES:
            if key in uplink:
                g = GaugeMetricFamily(name, text, labels=["deployment"])
                g.add_metric([dep], float(uplink[key]))
                yield g
        for key, name, text in _UPLINK_COUNTERS:
            if uplink.get(key) is not None:
                f = CounterMetricFamily(name, text, labels=["deployment"])
                f.add_metric([dep], float(uplink[key]))
                yield f
        links = uplink.get("links", {})
        rtt = GaugeMetricFamily(
            "vmw_link_rtt_ms", "smoothed RTT per transport", labels=["deployment", "transport"]
        )
        loss = GaugeMetricFamily(
            "vmw_link_loss", "probe loss ratio per transport", labels=["deployment", "transport"]
        )
        active = GaugeMetricFamily(
            "vmw_link_active", "1 for the transport carrying data", labels=["deployment", "transport"]
        )
        for name, view in links.items():
            rtt.add_metric([dep, name], float(view["rtt_ms"]))
            loss.add_metric([dep, name], float(view["loss"]))
            active.add_metric([dep, name], 1.0 if uplink.get("transport") == name else 0.0)
        yield from (rtt, loss, active)


def serve_metrics(
    counters: Counters, deployment: str, port: int, address: str = "127.0.0.1"
) -> tuple[Any, int]:
    """Start the endpoint (a daemon thread); returns (server, bound port). ``server.shutdown()`` stops it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(counters, deployment))
    server, _thread = start_http_server(port, address, registry=registry)
    return server, int(server.server_address[1])


__all__ = ["RuntimeCollector", "serve_metrics"]
