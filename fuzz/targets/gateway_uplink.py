"""Gateway uplink frames: one WebSocket/gRPC message as the gateway reads it from a vehicle.

The frame is parsed as an ``Uplink`` with the link protocol's checks (size, empty oneof), a batch is
decoded to sample records (decompression with its size limit, column lengths), and a Hello goes
through the identity check with a real token secret (so ``auth_token`` reaches token verification).
"""

from __future__ import annotations

from vehicle_mw.channel.protocol import ProtocolError, batch_samples, parse_frame
from vehicle_mw.gateway.identity import Refusal, check_identity
from vehicle_mw.v1 import link_pb2

SECRET = b"fuzz-secret-0123456789abcdef"
MAX_FRAME = 1 << 20
EXPECTED = (ProtocolError,)


def one_input(data: bytes) -> None:
    msg = parse_frame(data, link_pb2.Uplink, "fuzz-peer", MAX_FRAME)
    kind = msg.WhichOneof("msg")
    if kind == "batch":
        samples = batch_samples(msg.batch, "fuzz-peer", max_bytes=4 * MAX_FRAME)
        assert len(samples) == len(msg.batch.columns.signal_id) or msg.batch.compression
    elif kind == "hello":
        for names in (frozenset(), frozenset({"veh-1"})):
            refusal = check_identity(msg.hello, names, SECRET, allow_anonymous=False)
            assert refusal is None or isinstance(refusal, Refusal)
