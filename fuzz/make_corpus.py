"""Regenerate the seed corpus ``fuzz/corpus/<target>/`` with the project's own encoders.

``python -m fuzz.make_corpus`` rewrites every seed from fixed values, so the result is the same on
every run (except ring segments, whose header carries the creating process's id). Seeds are small
real inputs: what a vehicle, an ECU or a file really holds, for the fuzzer to mutate.
The DBC/KCD/SYM seeds are the MIT-licensed test databases of tests/data (cantools, opendbc) and
the project's own hil/dbc.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import tempfile

import can
import numpy as np

from fuzz.harness import CORPUS, ROOT

REPO = ROOT.parent
T0_NS = 1_767_225_600 * 10**9  # 2026-01-01: every seed's timestamps start here


def _samples(n: int, kinds: tuple[int, ...] = (0,)) -> np.ndarray:
    from vehicle_mw.native.records import SAMPLE_DTYPE

    s = np.zeros(n, SAMPLE_DTYPE)
    s["signal_id"] = np.arange(1, n + 1)
    s["source_id"] = 3
    s["timestamp_ns"] = T0_NS + np.arange(n) * 1_000_000
    s["source_seq"] = np.arange(n)
    s["kind"] = [kinds[i % len(kinds)] for i in range(n)]
    s["value"] = np.linspace(-2.5, 1e6, n)
    s["value"].view("<i8")[s["kind"] != 0] = np.arange(n)[s["kind"] != 0] - 3
    return s


def _uplinks() -> list[bytes]:
    from fuzz.targets.gateway_uplink import SECRET
    from vehicle_mw.channel.wire import batch_bytes
    from vehicle_mw.gateway.tokens import issue_token
    from vehicle_mw.v1 import link_pb2 as pb

    token = issue_token(SECRET, "veh-1", 3600, now=1_800_000_000 - 60)
    hello = pb.Uplink(
        hello=pb.Hello(
            protocol_version=pb.PROTOCOL_VERSION_CURRENT,
            vehicle_id="veh-1",
            software_version="1.0",
            catalog_hash=hashlib.sha256(b"catalog").digest(),
            resume_after_seq=41,
            session_id="0" * 32,
            transport="websocket",
            auth_token=token,
        )
    )
    catalog = pb.Uplink(
        catalog=pb.Catalog(
            hash=hashlib.sha256(b"catalog").digest(),
            signals=[
                pb.SignalInfo(id=1, name="M.S", unit="km/h", choices={0: "off", 1: "on"}, source="can:0")
            ],
        )
    )
    return [
        hello.SerializeToString(),
        catalog.SerializeToString(),
        batch_bytes(42, _samples(4), created_ns=T0_NS),
        batch_bytes(
            43, _samples(6, (0, 1, 2, 3)), evicted_before=2, evicted_batches_before=1, created_ns=T0_NS
        ),
        batch_bytes(44, _samples(5, (0, 1)), compress=True, created_ns=T0_NS),
        pb.Uplink(probe=pb.Probe(id=7, sent_ns=T0_NS)).SerializeToString(),
        pb.Uplink(echo=pb.Echo(id=7, sent_ns=T0_NS)).SerializeToString(),
        pb.Uplink(
            link_event=pb.LinkEvent(from_transport="grpc", to_transport="websocket")
        ).SerializeToString(),
        pb.Uplink(command_ack=pb.CommandAck(id=9)).SerializeToString(),
    ]


def _link_messages() -> list[bytes]:
    from fuzz.targets.link_messages import MESSAGES
    from vehicle_mw.v1 import link_pb2 as pb

    up = {pb.Uplink().FromString(raw).WhichOneof("msg"): pb.Uplink.FromString(raw) for raw in _uplinks()}
    examples = {
        pb.Uplink: up["batch"],
        pb.Hello: up["hello"].hello,
        pb.Catalog: up["catalog"].catalog,
        pb.SampleBatch: up["batch"].batch,
        pb.SampleColumns: up["batch"].batch.columns,
        pb.Downlink: pb.Downlink(welcome=pb.Welcome(protocol_version=1, acked_seq=41, gateway_id="gw")),
        pb.Ack: pb.Ack(acked_seq=41),
        pb.Error: pb.Error(code=pb.Error.MALFORMED, message="bad"),
        pb.Command: pb.Downlink(command=pb.Command(id=9)).command,
    }
    out = []
    for i, cls in enumerate(MESSAGES):
        msg = examples.get(cls, cls())
        out.append(bytes([i]) + msg.SerializeToString())
    return out


def _tokens() -> list[bytes]:
    from fuzz.targets.tokens import NOW, SECRET
    from vehicle_mw.gateway.tokens import issue_token

    good = issue_token(SECRET, "veh-1", 3600, now=NOW - 60).encode()
    claims = b'{"sub":"veh-1","iat":1799999940,"exp":1800003540}'
    return [b"\x01" + good, b"\x00" + claims, b"\x00" + claims.replace(b"1800003540", b"1.5e9")]


def _someip() -> tuple[list[bytes], list[bytes]]:
    from vehicle_mw.someip import sd, wire

    offer = sd.Entry(
        sd.OFFER,
        0x1234,
        0x5678,
        1,
        3,
        minor_version=0,
        options=[sd.Option(sd.OPTION_IPV4_ENDPOINT, "192.168.7.2", sd.UDP, 30509)],
    )
    sub = sd.Entry(
        sd.SUBSCRIBE,
        0x1234,
        0x5678,
        1,
        3,
        eventgroup_id=1,
        options=[sd.Option(sd.OPTION_IPV4_ENDPOINT, "192.168.7.3", sd.UDP, 40000)],
    )
    find = sd.Entry(sd.FIND, 0x1234, 0xFFFF, 0xFF, 3)
    sds = [sd.encode([offer]), sd.encode([sub, find], session_id=2), sd.encode([offer, sub])]
    event = wire.build(0x1234, 0x8001, bytes(16))
    call = wire.build(0x1234, 0x0001, b"\x00\x00\x00\x02\x00\x00\x00\x03", message_type=wire.REQUEST)
    wires = [event, call, event + call, sds[0], sds[1] + event]
    return wires, [m[wire.HEADER_SIZE :] for m in sds]


def _codec() -> list[bytes]:
    from fuzz.targets.someip_codec import CODECS

    out = []
    for i, codec in enumerate(CODECS):
        out.append(bytes([i]) + codec.encode(codec.zero()))
    return out


def _manifests() -> list[bytes]:
    from fuzz.targets.manifests import MODELS
    from vehicle_mw.manifest.channel import ChannelConfig
    from vehicle_mw.manifest.execution import ExecutionManifest
    from vehicle_mw.manifest.gateway import GatewayConfig
    from vehicle_mw.manifest.hil import BenchConfig, ScenarioConfig
    from vehicle_mw.manifest.machine import MachineManifest
    from vehicle_mw.manifest.someip import SomeIpService

    files = {
        MachineManifest: ["manifests/machine.example.yaml"],
        ChannelConfig: ["manifests/channel.example.yaml"],
        ExecutionManifest: ["manifests/execution.example.yaml"],
        SomeIpService: ["manifests/someip/vehicle_dynamics.yaml"],
        GatewayConfig: ["manifests/gateway.yaml"],
        BenchConfig: sorted(str(p.relative_to(REPO)) for p in (REPO / "hil/benches").glob("*.yaml")),
        ScenarioConfig: sorted(str(p.relative_to(REPO)) for p in (REPO / "hil/scenarios").glob("*.yaml")),
    }
    return [bytes([MODELS.index(m)]) + (REPO / f).read_bytes() for m, fs in files.items() for f in fs]


def _databases() -> list[bytes]:
    from vehicle_mw.signals.database import SUPPORTED_SUFFIXES

    out = []
    for path in sorted((REPO / "tests/data").glob("*/*")) + [REPO / "hil/dbc/body.dbc"]:
        if path.suffix in SUPPORTED_SUFFIXES and path.stat().st_size <= 16384:
            out.append(bytes([SUPPORTED_SUFFIXES.index(path.suffix)]) + path.read_bytes())
    return out


def _outbox() -> list[bytes]:
    from fuzz.targets.outbox_segment import CONFIG
    from vehicle_mw.store.outbox import Outbox

    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(tmp, CONFIG)
        box.append(_samples(3))
        box.append(_samples(5, (0, 1, 2, 3)), priority=2)
        box.close()
        (seg,) = sorted(pathlib.Path(tmp).glob("seg-*.log"))
        data = seg.read_bytes()
    return [bytes([mode]) + data for mode in range(4)] + [b"\x02" + data[: len(data) - 3]]


def _rings() -> list[bytes]:
    from vehicle_mw.native import ByteRing, MpmcRing, SlotRing

    out = []
    for i, (cls, args) in enumerate(((SlotRing, (16, 4)), (ByteRing, (256,)), (MpmcRing, (16, 4)))):
        name = f"vmw-fuzz-seed-{os.getpid()}-{i}"
        ring = cls.create(name, *args)
        try:
            ring.push(b"0123456789abcdef")
            out.append(bytes([i]) + pathlib.Path(f"/dev/shm/{name}").read_bytes())
        finally:
            ring.unlink()
            ring.close()
    return out


def _messages() -> list[can.Message]:
    return [
        can.Message(
            timestamp=1000.0 + i * 0.01,
            arbitration_id=0x100 + i,
            data=bytes(range(i, i + 8)),
            is_extended_id=bool(i & 1),
            channel=0,
        )
        for i in range(4)
    ]


def _can_logs() -> list[bytes]:
    from fuzz.targets.can_logs import SUFFIXES

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, suffix in enumerate(SUFFIXES):
            path = pathlib.Path(tmp) / f"seed{suffix}"
            with can.Logger(str(path)) as writer:
                for msg in _messages():
                    writer.on_message_received(msg)
            out.append(bytes([i]) + path.read_bytes())
    head = (REPO / "tests/data/opendbc/prius_random.log").read_bytes()[:2048]
    out.append(bytes([SUFFIXES.index(".log")]) + head[: head.rfind(b"\n") + 1])
    return out


def _frames() -> list[bytes]:
    from fuzz.targets.frame_decoder import DECODERS
    from vehicle_mw.can.frames import FrameBatch

    out = []
    for i, (decoder, _) in enumerate(DECODERS):
        batch = FrameBatch(64)
        for seq, entry in enumerate(decoder.catalog.messages[:6]):
            msg = can.Message(
                timestamp=1000.0 + seq,
                arbitration_id=entry.frame_id,
                is_extended_id=entry.extended,
                data=bytes(range(entry.length)),
                is_fd=entry.length > 8,
            )
            batch.add(msg, 0, seq, T0_NS + seq)
        out.append(bytes([i]) + bytes(batch.view()))
    return out


def build() -> dict[str, list[bytes]]:
    wires, sds = _someip()
    return {
        "gateway_uplink": _uplinks(),
        "link_messages": _link_messages(),
        "tokens": _tokens(),
        "someip_wire": wires,
        "someip_sd": sds,
        "someip_codec": _codec(),
        "manifests": _manifests(),
        "dbc_loading": _databases(),
        "outbox_segment": _outbox(),
        "ring_header": _rings(),
        "can_logs": _can_logs(),
        "frame_decoder": _frames(),
    }


def main() -> None:
    for target, seeds in build().items():
        folder = CORPUS / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for data in seeds:
            (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds)):,} bytes")


if __name__ == "__main__":
    main()
