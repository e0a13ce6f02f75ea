"""Every protobuf message of ``proto/vehicle_mw/v1/link.proto`` that a peer sends, on arbitrary bytes.

The first byte picks the message type, the rest is parsed. ``DecodeError`` is protobuf's clear
refusal; a parsed message must survive re-serialisation, and sample columns go through the shared
decoder (``samples_from_columns``) like a received batch.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from fuzz.harness import Input
from vehicle_mw.channel.protocol import ProtocolError, samples_from_columns
from vehicle_mw.v1 import link_pb2

# messages added to link.proto later go at the end, so a saved input keeps the type its first byte picked
ADDED_LATER = ("SampleBatches",)
MESSAGES = tuple(
    getattr(link_pb2, name)
    for name in sorted(set(link_pb2.DESCRIPTOR.message_types_by_name) - set(ADDED_LATER))
) + tuple(getattr(link_pb2, name) for name in ADDED_LATER)
EXPECTED = (DecodeError, ProtocolError)


def one_input(data: bytes) -> None:
    inp = Input(data)
    cls = MESSAGES[inp.byte() % len(MESSAGES)]
    msg = cls.FromString(inp.rest())
    again = cls.FromString(msg.SerializeToString())
    assert again == msg or _has_nan(msg), f"{cls.__name__} does not survive a round trip"
    batches = []
    if cls is link_pb2.SampleColumns:
        samples_from_columns(msg, "fuzz-peer")
    elif cls is link_pb2.SampleBatch:
        batches = [msg]
    elif cls is link_pb2.SampleBatches:
        batches = list(msg.batches)
    elif cls is link_pb2.Uplink and msg.WhichOneof("msg") == "batch":
        batches = [msg.batch]
    elif cls is link_pb2.Uplink and msg.WhichOneof("msg") == "batches":
        batches = list(msg.batches.batches)
    for batch in batches:
        samples_from_columns(batch.columns, "fuzz-peer")


def _has_nan(msg) -> bool:
    """NaN != NaN, so messages holding one compare unequal to themselves."""
    return "nan" in str(msg).lower()
