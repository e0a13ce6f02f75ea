"""Bench (HIL) harness: fault injection and link impairment for tests and benches."""

from vehicle_mw.hil.link_proxy import Impairment, LinkProxy, LinkProxyError, control_request

__all__ = ["Impairment", "LinkProxy", "LinkProxyError", "control_request"]
