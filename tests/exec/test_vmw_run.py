"""`vmw run` as a real process: systemd notify over a real datagram socket, `vmw state`, SIGTERM shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from exec_helpers import app

VMW = [sys.executable, "-m", "vehicle_mw"]


class NotifyReceiver:
    """Plays systemd's part: a real AF_UNIX datagram socket read continuously by a thread."""

    def __init__(self, path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.sock.recv(4096).decode()
            except OSError:
                return
            with self.cond:
                self.messages.append(msg)
                self.cond.notify_all()

    def wait_for(self, wanted: str, timeout: float = 20.0, start: int = 0) -> str:
        """The first datagram (from index ``start``) holding the line ``wanted``."""

        def find():
            return next((m for m in self.messages[start:] if wanted in m.splitlines()), None)

        with self.cond:
            if not self.cond.wait_for(find, timeout):
                pytest.fail(f"no datagram with {wanted!r} within {timeout} s; got {self.messages}")
            return find()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def vmw_state(ctl, *args) -> dict | str:
    out = subprocess.run(
        VMW + ["state", "--socket", str(ctl), *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if "--json" in args else out.stdout


def wait_states(ctl, wanted: dict[str, str], timeout: float = 30.0) -> None:
    """Poll the control socket until the apps are in the wanted states (bounded)."""
    deadline = time.monotonic() + timeout
    states = None
    while time.monotonic() < deadline:
        if ctl.exists():
            states = {n: a["state"] for n, a in vmw_state(ctl, "--json")["apps"].items()}
            if all(states.get(n) == st for n, st in wanted.items()):
                return
        time.sleep(0.05)
    pytest.fail(f"apps not in {wanted} within {timeout} s; last: {states}")


@pytest.fixture
def notify(tmp_path):
    receiver = NotifyReceiver(tmp_path / "notify.sock")
    yield receiver
    receiver.close()


def test_systemd_notify_state_cli_and_orderly_sigterm(ws, notify):
    path = ws.write(
        [
            app("a", "steady"),
            app("b", "steady", depends_on=["a"]),
            app("c", "steady", depends_on=["b"], states=["Driving", "Parked"]),
            app("stubborn", "steady", depends_on=["c"], stop_timeout=0.5, env={"VMW_TEST_IGNORE_TERM": "1"}),
        ]
    )
    ctl = ws.root / "ctl.sock"
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="200000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        VMW + ["-v", "run", str(path), "--control-socket", str(ctl)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = notify.wait_for("READY=1")
        assert "STATUS=4/4 apps running; Main=Driving" in ready.splitlines()
        assert f"MAINPID={proc.pid}" in ready.splitlines()
        n = len(notify.messages)
        notify.wait_for("WATCHDOG=1", timeout=5, start=n)  # pings every 0.1 s while healthy
        notify.wait_for("WATCHDOG=1", timeout=5, start=n + 1)

        status = vmw_state(ctl, "--json")
        assert {n: a["state"] for n, a in status["apps"].items()} == dict.fromkeys(
            ["a", "b", "c", "stubborn"], "running"
        )
        text = vmw_state(ctl)
        assert "function group Main: Driving" in text
        vmw_state(ctl, "switch", "Main", "Parked")
        notify.wait_for("STATUS=1/1 apps running; Main=Parked")
        wait_states(ctl, {"a": "off", "b": "off", "stubborn": "off", "c": "running"})
        pids = [a["pid"] for a in status["apps"].values()]
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stderr = proc.stderr.read()
        notify.wait_for("STOPPING=1", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    lines = ws.lines()
    # Parked stopped a, b and stubborn (stubborn needed SIGKILL); SIGTERM then stopped c.
    terms = [ln.split()[0] for ln in lines if ln.endswith(" term")]
    assert terms == ["stubborn", "b", "a", "c"], lines
    assert "stubborn exit" not in lines  # it ignored SIGTERM ...
    assert "stubborn: kill (still alive 0.5 s after SIGTERM: SIGKILL)" in stderr  # ... and was killed
    assert "machine: shutdown" in stderr
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not ctl.exists()


def test_sigterm_stops_in_reverse_startup_order(ws):
    path = ws.write(
        [
            app("a", "steady"),
            app("b", "steady", depends_on=["a"]),
            app("c", "steady", depends_on=["b"]),
            app("stubborn", "steady", depends_on=["c"], stop_timeout=0.5, env={"VMW_TEST_IGNORE_TERM": "1"}),
        ]
    )
    ctl = ws.root / "ctl.sock"
    proc = subprocess.Popen(
        VMW + ["-v", "run", str(path), "--control-socket", str(ctl)], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_states(ctl, dict.fromkeys(["a", "b", "c", "stubborn"], "running"))
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = ws.lines()
    terms = [ln.split()[0] for ln in lines if ln.endswith(" term")]
    assert terms == ["stubborn", "c", "b", "a"]
    # each one stopped only after the previous one had exited (or was killed)
    assert lines.index("c term") > lines.index("stubborn term")
    assert lines.index("b term") > lines.index("c exit")
    assert lines.index("a term") > lines.index("b exit")
    assert "stubborn: kill" in stderr and proc.returncode == 0


def test_control_socket_rejects_bad_requests_and_keeps_serving(ws, run_manager):
    from vehicle_mw.exec import ControlError, ControlServer, request

    m = run_manager(ws.write([app("a", "steady")]))
    path = str(ws.root / "c.sock")
    server = ControlServer(m, path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(b"[1, 2]\n")
            reply = json.loads(s.makefile().readline())
        assert reply == {"ok": False, "error": "bad request: request must be a JSON object"}
        with pytest.raises(ControlError, match="unknown command 'fly'"):
            request(path, {"cmd": "fly"})
        with pytest.raises(ControlError, match="has no state 'Flying'"):
            request(path, {"cmd": "switch", "group": "Main", "state": "Flying"})
        assert request(path, {"cmd": "status"})["groups"] == {"Main": "Driving"}
    finally:
        m.shutdown(timeout=30)
        server.close()
    with pytest.raises(ControlError, match="is `vmw run` running"):
        request(path, {"cmd": "status"})


def test_watchdog_pings_stop_when_an_app_fails_without_fallback(ws, run_manager, notify):
    from vehicle_mw.exec import SystemdNotifier

    machine = {
        "name": "no-fallback",
        "function_groups": [{"name": "Main", "states": ["Driving"], "initial": "Driving"}],
    }
    restart = {"max_restarts": 0}
    path = ws.write([app("ok", "steady"), app("crasher", "crash", restart=restart)], machine=machine)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "100000"})
    m = run_manager(path, notifier=notifier)
    notify.wait_for("WATCHDOG=1")  # healthy while starting
    s = m.wait_for(lambda s: s["apps"]["crasher"]["state"] == "failed", 20)
    assert s["healthy"] is False
    assert ("no-fallback", "crasher failed and the group declares no fallback") in [
        (e.action, e.reason) for e in m.events if e.subject == "Main"
    ]
    # No more pings: look over 5 ping intervals (a bounded negative check; while healthy it
    # would see ~5; one sent just before the failure may still be in flight).
    seen = len(notify.messages)
    end = time.monotonic() + 0.25
    while time.monotonic() < end:
        time.sleep(0.05)
    assert sum("WATCHDOG=1" in msg for msg in notify.messages[seen:]) <= 1
    assert s["apps"]["ok"]["state"] == "running"  # the healthy app is left alone


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for init to reap it is gone too
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_apps_end_when_the_manager_is_killed(ws):
    """SIGKILL of `vmw run` (no chance to stop its apps) still ends them: no orphaned stages."""
    path = ws.write([app("a", "steady"), app("b", "steady", depends_on=["a"])])
    ctl = ws.root / "ctl.sock"
    proc = subprocess.Popen(VMW + ["run", str(path), "--control-socket", str(ctl)], stderr=subprocess.DEVNULL)
    pids: list[int] = []
    try:
        wait_states(ctl, {"a": "running", "b": "running"})
        pids = [a["pid"] for a in vmw_state(ctl, "--json")["apps"].values()]
        assert all(not _gone(pid) for pid in pids)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 30
        while not all(_gone(pid) for pid in pids):
            assert time.monotonic() < deadline, f"apps {pids} outlived their killed manager"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:  # a failing run must not leave the orphans it found
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
