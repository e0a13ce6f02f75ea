"""SampleColumns entries the vehicle side can never produce are refused at the gateway's edge.

A ``kind`` outside the ValueKind enum (protobuf keeps unknown enum numbers) and a ``source_id``
beyond 16 bits (the vehicle's source id is a u16) are refused with an Error naming the column and
the entry, to that vehicle alone; nothing of the batch is stored.
"""

from __future__ import annotations

import pathlib

import pytest

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.errors import ProtocolViolation
from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.gateway.validate import SOURCE_ID_MAX, batch_columns, check_columns
from vehicle_mw.v1 import link_pb2

from .helpers import local_config, run
from .test_delivery import stored
from .test_poison import GOOD, refused, still_acked

Code = link_pb2.Error.Code
REGRESSIONS = pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "regressions"


def columns(n: int = 4, kind: list[int] | None = None, source_id: list[int] | None = None):
    return link_pb2.SampleColumns(
        signal_id=[1] * n,
        source_id=source_id if source_id is not None else [1] * n,
        source_ts_ns=list(range(1, n + 1)),
        source_seq=list(range(1, n + 1)),
        value=[float(i) for i in range(n)],
        kind=kind or [],
        int_value=[0] * n if kind else [],
    )


def test_every_value_kind_and_16_bit_source_ids_pass():
    check_columns(1, columns(4, kind=[0, 1, 2, 3], source_id=[0, 1, SOURCE_ID_MAX - 1, SOURCE_ID_MAX]), 10)
    check_columns(1, columns(4), 10)  # no kind column: every sample is F64
    check_columns(1, columns(0), 10)


@pytest.mark.parametrize(
    ("cols", "text"),
    [
        (columns(4, kind=[0, 1, 4, 0]), "column kind entry 2 is 4, not a ValueKind"),
        (columns(4, kind=[300, 0, 0, 0]), "column kind entry 0 is 300, not a ValueKind"),
        (columns(4, kind=[0, 0, 0, -1]), "column kind entry 3 is -1, not a ValueKind"),
        (
            columns(4, source_id=[1, 1, 1, SOURCE_ID_MAX + 1]),
            "column source_id entry 3 is 65536, beyond 65535",
        ),
        (columns(4, source_id=[1, 2**32 - 1, 1, 1]), "column source_id entry 1 is 4294967295, beyond 65535"),
    ],
)
def test_out_of_range_entries_are_refused_naming_column_and_entry(cols, text):
    with pytest.raises(ProtocolViolation) as exc:
        check_columns(9, cols, 10)
    assert exc.value.code == Code.MALFORMED
    assert exc.value.message.startswith("batch 9: ") and text in exc.value.message, exc.value.message


def test_the_saved_fuzz_input_is_refused_by_the_gateway_too():
    """fuzz/regressions/gateway_uplink/kind-out-of-range (kind 300, source ids of 32 bits, times and
    sequences beyond 63 bits): the vehicle-side decoder refuses it; the gateway's own edge check
    refuses each of its out-of-range fields, one after the other as they are fixed."""
    up = link_pb2.Uplink.FromString((REGRESSIONS / "gateway_uplink" / "kind-out-of-range").read_bytes())
    cols = up.batch.columns
    assert list(cols.kind) == [300, 1] and max(cols.source_id) > SOURCE_ID_MAX

    def refusal() -> str:
        with pytest.raises(ProtocolViolation) as exc:
            batch_columns(up.batch, 1 << 20, 1 << 24)
        assert exc.value.code == Code.MALFORMED
        return exc.value.message

    assert "column source_ts_ns holds a value beyond" in refusal()
    cols.source_ts_ns[:] = [1, 2]
    cols.source_seq[:] = [1, 2]
    assert "column kind entry 0 is 300, not a ValueKind" in refusal()
    cols.kind[0] = link_pb2.VALUE_KIND_F64
    assert "column source_id entry 1 is 4294967295, beyond 65535" in refusal()
    cols.source_id[1] = SOURCE_ID_MAX
    batch_columns(up.batch, 1 << 20, 1 << 24)  # what is left (NaN, -inf, extreme int_value) is storable


def test_bad_kind_or_source_id_is_refused_to_its_vehicle_alone(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)
    cases = [
        ("VIN-KIND", columns(3, kind=[1, 9, 0]), "column kind entry 1 is 9"),
        ("VIN-SRC", columns(3, source_id=[7, 7, 70_000]), "column source_id entry 2 is 70000"),
    ]

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            await still_acked(good, 1)
            for n, (vid, cols, text) in enumerate(cases):
                bad = await WsVehicle.connect(gw.ws_url)
                await bad.open(hello(vid))
                up = link_pb2.Uplink(batch=link_pb2.SampleBatch(seq=1, created_ns=1, columns=cols))
                err = await refused(bad, up)
                assert err.code == Code.MALFORMED and text in err.message, err
                await bad.close()
                await still_acked(good, 2 + n)
            await good.close()

    run(scenario())
    assert stored(cfg.database, "VIN-KIND") == [] and stored(cfg.database, "VIN-SRC") == []
    assert stored(cfg.database, GOOD) == list(range(1, 31))  # 3 batches of 10 samples
