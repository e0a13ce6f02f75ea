"""The timed sender behind ``vmw can play`` / the HIL trace player, and the monitor's table, on a real
python-can ``virtual`` bus."""

from __future__ import annotations

import os
import threading

import can
import cantools
import pytest

from vehicle_mw.can.monitor import MessageTable
from vehicle_mw.can.playback import LogPlayer

DBC = os.path.join(os.path.dirname(__file__), "..", "..", "hil", "dbc", "body.dbc")


@pytest.fixture
def buses():
    channel = f"vmw-play-{os.getpid()}-{threading.get_ident()}"
    tx, rx = can.Bus(interface="virtual", channel=channel), can.Bus(interface="virtual", channel=channel)
    yield tx, rx
    tx.shutdown()
    rx.shutdown()


def _log(stamps: list[float]) -> list[can.Message]:
    return [
        can.Message(timestamp=t, arbitration_id=0x100 + i, is_extended_id=False, data=[i], channel="x")
        for i, t in enumerate(stamps)
    ]


def _received(rx: can.BusABC, n: int) -> list[can.Message]:
    out = []
    while len(out) < n and (msg := rx.recv(timeout=5)) is not None:
        out.append(msg)
    return out


def test_speed_scales_the_log_timing_and_frames_keep_their_content(buses):
    tx, rx = buses
    player = LogPlayer(tx, speed=2.0)
    assert player.play(_log([100.0, 100.1, 100.3])) and player.sent == 3
    got = _received(rx, 3)
    assert [m.arbitration_id for m in got] == [0x100, 0x101, 0x102] and got[2].data == bytearray([2])
    span = got[2].timestamp - got[0].timestamp
    assert 0.14 <= span < 1.0  # 0.3 s of log at x2: 0.15 s (a loaded machine sends late, never early)


def test_skip_shortens_long_pauses(buses):
    tx, rx = buses
    LogPlayer(tx, skip_gap_s=0.05).play(_log([0.0, 30.0, 30.01]))  # 30 s of silence in the log
    got = _received(rx, 3)
    assert 0.05 <= got[2].timestamp - got[0].timestamp < 5.0


def test_stop_ends_a_play_at_once_and_says_it_did_not_finish(buses):
    tx, rx = buses
    stop = threading.Event()
    player = LogPlayer(tx, stop=stop)
    result = []
    thread = threading.Thread(target=lambda: result.append(player.play(_log([0.0, 60.0]))))
    thread.start()
    assert _received(rx, 1)[0].arbitration_id == 0x100
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and result == [False] and player.sent == 1


def test_table_keeps_the_latest_frame_per_id_with_rate_and_decoded_signals():
    db = cantools.database.load_file(DBC)
    status = db.get_message_by_name("BodyStatus")
    table = MessageTable([db])
    for i in range(11):  # 10 Hz for 1 s
        data = status.encode({"VehicleSpeed": 10.0 * i, "GearPos": 2, "AmbientTemp": 20.0})
        table.add(
            can.Message(arbitration_id=status.frame_id, is_extended_id=False, data=data), now=10.0 + i / 10
        )
    table.add(can.Message(arbitration_id=0x18FEF100, is_extended_id=True, data=b"\xaa"), now=10.5)
    table.add(can.Message(is_error_frame=True), now=10.6)
    rows = {r.can_id: r for r in table.rows(now=11.0)}
    assert set(rows) == {"120", "18FEF100"}
    row = rows["120"]
    assert (row.name, row.count, row.dlc) == ("BodyStatus", 11, 8)
    assert row.hz == pytest.approx(10.0)
    assert "VehicleSpeed=100 km/h" in row.signals and "GearPos=2" in row.signals
    assert rows["18FEF100"].data == "AA" and rows["18FEF100"].name == ""
    assert (table.frames, table.error_frames) == (13, 1)
    assert table.rows(now=20.0)[0].hz == 0.0  # silent for longer than the window


def test_a_frame_too_short_for_its_message_is_shown_not_raised():
    db = cantools.database.load_file(DBC)
    table = MessageTable([db])
    table.add(can.Message(arbitration_id=0x120, is_extended_id=False, data=b"\x01"), now=1.0)
    (row,) = table.rows(now=1.0)
    assert row.name == "BodyStatus"  # cantools decodes what fits (allow_truncated); nothing raised


def test_bytes_that_changed_within_a_second_are_marked():
    table = MessageTable()
    table.add(can.Message(arbitration_id=0x10, is_extended_id=False, data=b"\x01\x02\x03"), now=0.0)
    assert table.rows(now=0.0)[0].changed == ()  # first sight: nothing "changed"
    table.add(can.Message(arbitration_id=0x10, is_extended_id=False, data=b"\x01\x09\x03"), now=5.0)
    assert table.rows(now=5.5)[0].changed == (1,)
    table.add(can.Message(arbitration_id=0x10, is_extended_id=False, data=b"\x01\x09\x03\x04"), now=5.8)
    assert table.rows(now=5.9)[0].changed == (1, 3)  # a longer frame: the new byte counts as changed
    assert table.rows(now=7.0)[0].changed == ()  # quiet for over a second
    from rich.console import Console

    console = Console(width=200, record=True, color_system="truecolor", force_terminal=True)
    table.add(can.Message(arbitration_id=0x10, is_extended_id=False, data=b"\x07\x09\x03\x04"), now=8.0)
    console.print(table.render(now=8.0))
    text = console.export_text(styles=True)
    assert "\x1b[1;31m07\x1b[0m" in text and "\x1b[1;31m09" not in text  # only byte 0 highlighted
