"""The SQLite sink forms commit groups fairly across vehicles (issue #12 follow-up).

Writes wait in one queue per vehicle; a group takes one write per vehicle in turn, least recently
served vehicle first, within a sample bound (a bigger batch commits alone). Checked by commit
order, not by time: the writer thread is held inside a first transaction (a write that waits for
an event) until every write of the scenario is queued, so what each later group can take is fixed;
the order the futures complete in is the order of the commits (a group's futures are completed
after its COMMIT, in the group's order), and the samples' rowids (insertion order) confirm it.
The scenarios also run with ``fair=False`` (one queue, arrival order) to show the checks fail
without fairness.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable

import pytest

from vehicle_mw.gateway.sqlite_sink import SqliteSink
from vehicle_mw.v1 import link_pb2

from .helpers import run


def columns(n: int, first: int = 0) -> link_pb2.SampleColumns:
    return link_pb2.SampleColumns(
        signal_id=[1] * n,
        source_id=[1] * n,
        source_ts_ns=range(first + 1, first + n + 1),
        source_seq=range(first + 1, first + n + 1),
        value=[0.5] * n,
    )


class HeldSink(SqliteSink):
    """A sink whose writer can be held inside a transaction of its own."""

    def hold(self) -> tuple[threading.Event, threading.Event, asyncio.Future]:
        entered, release = threading.Event(), threading.Event()
        return entered, release, self._submit(self._op_hold, "HOLD", entered, release)

    @staticmethod
    def _op_hold(conn, _lane: str, entered: threading.Event, release: threading.Event) -> None:
        entered.set()
        assert release.wait(60), "the test never released the writer"


async def commit_order(
    tmp_path, queue_writes: Callable[[SqliteSink, Callable], list], fair: bool = True, max_group_samples=1000
) -> tuple[list[str], int, SqliteSink]:
    """Hold the writer, queue the writes (``queue_writes(sink, track)``, each future passed through
    ``track(future, name)``), release it; the names in commit order and the commits after the hold."""
    sink = HeldSink(tmp_path / "gw.sqlite", "normal", fair=fair, max_group_samples=max_group_samples)
    await sink.start()
    try:
        entered, release, held = sink.hold()
        try:
            assert await asyncio.to_thread(entered.wait, 30), "the writer did not take the held write"
            done: list[str] = []

            def track(fut: asyncio.Future, name: str) -> asyncio.Future:
                fut.add_done_callback(lambda f: done.append(name))
                return fut

            futures = queue_writes(sink, track)
        finally:
            release.set()
        await held
        await asyncio.wait_for(asyncio.gather(*futures), 60)
        await asyncio.sleep(0)  # the done callbacks of the last group run
        return done, sink.commits - 1, sink  # the held write was alone in its group (nothing else queued)
    finally:
        await sink.stop()


def batches(plan: list[tuple[str, int, int]]):
    """Queue (vehicle, seq, samples) batches in this order."""

    def queue_writes(sink, track):
        return [
            track(
                sink.write_batch(v, link_pb2.SampleBatch(seq=seq, created_ns=1), columns(n, seq * n)),
                f"{v}/{seq}",
            )
            for v, seq, n in plan
        ]

    return queue_writes


def rowid_order(db) -> list[str]:
    """Batches by the rowid of their first sample: the order the writer inserted them in."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT v.vehicle_id, s.batch_seq FROM samples s JOIN vehicles v ON v.key=s.vehicle_key"
            " GROUP BY s.vehicle_key, s.batch_seq ORDER BY MIN(s.rowid)"
        ).fetchall()
        return [f"{v}/{seq}" for v, seq in rows]
    finally:
        conn.close()


FLOOD = [("FLOOD", seq, 1000) for seq in range(1, 5)]  # batches as big as a group, queued first
GOOD = [("GOOD", 1, 10)]  # then one small batch of another vehicle


@pytest.mark.parametrize("fair", [True, False])
def test_a_small_batch_commits_before_a_flooders_later_batches(tmp_path, fair):
    done, commits, sink = run(commit_order(tmp_path, batches(FLOOD + GOOD), fair))
    assert rowid_order(sink.path) == done
    assert [n for n in done if n.startswith("FLOOD")] == ["FLOOD/1", "FLOOD/2", "FLOOD/3", "FLOOD/4"]
    assert commits == 5  # every group-size batch committed in a group of its own
    if fair:  # the flooder's first batch (it queued first), then the good one, then the rest
        assert done == ["FLOOD/1", "GOOD/1", "FLOOD/2", "FLOOD/3", "FLOOD/4"]
    else:  # arrival order: behind the whole flood
        assert done == ["FLOOD/1", "FLOOD/2", "FLOOD/3", "FLOOD/4", "GOOD/1"]


def test_a_batch_bigger_than_a_group_commits_alone(tmp_path):
    plan = [("FLOOD", 1, 5000), ("FLOOD", 2, 5000), ("GOOD", 1, 10), ("OTHER", 1, 10)]
    done, commits, sink = run(commit_order(tmp_path, batches(plan)))
    assert done == ["FLOOD/1", "GOOD/1", "OTHER/1", "FLOOD/2"] == rowid_order(sink.path)
    assert commits == 3  # {FLOOD/1}, {GOOD/1, OTHER/1}, {FLOOD/2}


@pytest.mark.parametrize("fair", [True, False])
def test_groups_take_one_batch_per_vehicle_in_turn(tmp_path, fair):
    plan = [("A", seq, 10) for seq in range(1, 5)] + [("B", seq, 10) for seq in range(1, 5)]
    done, commits, sink = run(commit_order(tmp_path, batches(plan), fair, max_group_samples=20))
    assert rowid_order(sink.path) == done
    assert commits == 4  # two batches per group
    if fair:
        assert done == ["A/1", "B/1", "A/2", "B/2", "A/3", "B/3", "A/4", "B/4"]
    else:
        assert done == [f"A/{s}" for s in range(1, 5)] + [f"B/{s}" for s in range(1, 5)]


def test_a_vehicles_other_writes_keep_their_order(tmp_path):
    """Writes that are not batches (register, acked watermark) queue with their vehicle's batches and
    fit any group; a vehicle left out of a group by the sample bound goes first in the next one."""

    def queue_writes(sink, track):
        return [
            track(sink.register_vehicle("FLOOD", "1"), "FLOOD/register"),
            track(sink.write_batch("FLOOD", link_pb2.SampleBatch(seq=1), columns(1000)), "FLOOD/1"),
            track(sink.write_acked("FLOOD", 1), "FLOOD/acked"),
            track(sink.write_batch("FLOOD", link_pb2.SampleBatch(seq=2), columns(1000, 1000)), "FLOOD/2"),
            track(sink.register_vehicle("GOOD", "1"), "GOOD/register"),
            track(sink.write_batch("GOOD", link_pb2.SampleBatch(seq=1), columns(10)), "GOOD/1"),
        ]

    done, commits, sink = run(commit_order(tmp_path, queue_writes))
    conn = sqlite3.connect(sink.path)
    try:
        assert conn.execute("SELECT acked_seq FROM vehicles WHERE vehicle_id='FLOOD'").fetchone() == (1,)
    finally:
        conn.close()
    # a turn is the writes without samples at the head of a vehicle's queue, then one batch
    assert done == ["FLOOD/register", "FLOOD/1", "GOOD/register", "FLOOD/acked", "GOOD/1", "FLOOD/2"]
    assert commits == 3  # {FLOOD/register, FLOOD/1, GOOD/register, FLOOD/acked}, {GOOD/1}, {FLOOD/2}
