"""vsomeip 3.7.4 example binaries against vehicle_mw, in two network namespaces, UDP and TCP.

vsomeip's samples use service 0x1234.0x5678 (major 0), field 0x8778 in eventgroup 0x4465
(notify-sample: 1..9 raw bytes every --cycle ms, offer toggled every 10 s), method 0x0421
(response-sample answers 120 bytes 0..119). Counts of sent vs received go to RESULTS.
"""

from __future__ import annotations

import time

import pytest
import yaml

from interop.conftest import record

pytestmark = pytest.mark.netns
RAW = {"array": "uint8", "length_field_size": 0}
NOTE = "Received a notification for Event [1234.5678.8778]"


def manifest(tmp_path, protocol: str):
    data = {
        "name": "vsomeip_sample", "service_id": 0x1234, "instance_id": 0x5678, "major_version": 0,
        "minor_version": 0, "endpoint": {"port": 30509}, "consumer_endpoint": {"port": 40000},
        "source_id": 9, "sd": {"multicast_address": "224.224.224.245", "port": 30490, "ttl": 3,
                                "cyclic_offer_delay_ms": 1000},
        "types": {"Raw": RAW},
        "events": [{"id": 0x8778, "name": "sample", "type": "Raw", "protocol": protocol,
                    "signals": [{"path": "[0]", "signal_id": 1}]}],
        "methods": [{"id": 0x0421, "name": "echo", "request": "Raw", "response": "Raw",
                     "protocol": protocol}],
        "fields": [],
        "eventgroups": [{"id": 0x4465, "events": [0x8778]}],
    }  # fmt: skip
    path = tmp_path / f"vsomeip_{protocol}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _ports(protocol: str) -> dict:
    return {"udp": 30509, "tcp": None} if protocol.startswith("udp") else {"udp": None, "tcp": 30509}


@pytest.mark.parametrize("protocol", ["udp", "tcp", "udp-multicast"])
def test_vsomeip_events_to_vmw_consumer(vsomeip, peers, tmp_path, netns, protocol):
    extra = {"multicast": ("224.225.226.233", 32344)} if protocol == "udp-multicast" else {}
    app = vsomeip("a", "notify-sample", "--cycle", "10", **_ports(protocol), **extra)
    consumer = peers("consume", manifest(tmp_path, protocol.split("-")[0]), "b")
    consumer.cmd("wait_available", timeout=10)
    consumer.cmd("wait_subscribed", timeout=10)
    sent0 = app.count("Setting event")
    app.wait_count("Setting event", sent0 + 300, timeout=8)
    app.close()  # stops sending; everything it printed is read
    sent = app.count_after("REMOTE SUBSCRIBE", "Setting event")  # from the subscription on
    got = consumer.cmd("wait_samples", n=sent, timeout=3)
    stats = consumer.cmd("stats")
    record(f"vsomeip->vmw events {protocol}", sent=sent, received=got["count"], dropped=stats["dropped"])
    assert not stats["dropped"], stats
    # + the field's current value vsomeip sends right after the SubscribeAck
    # multicast: the consumer joins the group on the SubscribeAck, events vsomeip sends to it before
    # the join are not received (counted in RESULTS)
    slack = 20 if protocol == "udp-multicast" else 1
    assert sent >= 300 and sent - slack <= got["count"] <= sent + 1, (sent, got["count"])


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_vsomeip_offer_cycle_loss_and_return(vsomeip, peers, tmp_path, netns, protocol):
    app = vsomeip("a", "notify-sample", "--cycle", "50", **_ports(protocol))
    consumer = peers("consume", manifest(tmp_path, protocol), "b")
    consumer.cmd("wait_available", timeout=10)
    consumer.cmd("wait_subscribed", timeout=10)
    assert consumer.cmd("wait_lost", timeout=15) == 1  # notify-sample stops offering after 10 s
    before = consumer.cmd("wait_samples", n=0, timeout=0)["count"]
    consumer.cmd("wait_available", timeout=15)  # and offers again 10 s later
    got = consumer.cmd("wait_samples", n=before + 20, timeout=8)
    record(f"vsomeip->vmw loss and return {protocol}", received_after_return=got["count"] - before,
           sent_total=app.count("Setting event"))  # fmt: skip
    assert got["ok"], (got["count"], before)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_vmw_calls_vsomeip_method(vsomeip, peers, tmp_path, netns, protocol):
    vsomeip("a", "response-sample", **_ports(protocol))
    consumer = peers("consume", manifest(tmp_path, protocol), "b")
    consumer.cmd("wait_available", timeout=10)
    ok = 0
    for i in range(50):
        assert consumer.cmd("call", method="echo", value=[i % 256], timeout=5) == list(range(120))
        ok += 1
    record(f"vmw->vsomeip method {protocol}", sent=50, answered=ok)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_vmw_provider_to_vsomeip_subscriber(vsomeip, peers, tmp_path, netns, protocol):
    provider = peers("provide", manifest(tmp_path, protocol), "a")
    app = vsomeip("b", "subscribe-sample", f"--{protocol}", udp=None, tcp=None)
    provider.cmd("wait_subscribed", timeout=15)
    time.sleep(0.3)  # the subscriber list the provider polls (0.1 s) and a TCP connection
    n = 500
    for _ in range(n // 50):
        provider.cmd("send", event="sample", values=[[1, 2, 3]] * 50)
    got = app.wait_count(NOTE, n, timeout=10)
    record(f"vmw->vsomeip events {protocol}", sent=n, received=got)
    assert got == n, (got, app.lines[-5:])


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_vsomeip_requester_to_vmw_provider(vsomeip, peers, tmp_path, netns, protocol):
    peers("provide", manifest(tmp_path, protocol), "a")
    app = vsomeip("b", "request-sample", f"--{protocol}", "--cycle", "20", udp=None, tcp=None)
    app.wait_count("Received a response", 100, timeout=20)
    sent, answered = app.count("sent a request"), app.count("Received a response")
    record(f"vsomeip->vmw method {protocol}", sent=sent, answered=answered)
    assert answered >= 100 and sent - answered <= 1, (sent, answered, app.lines[-5:])
