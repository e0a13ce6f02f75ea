"""``vmw cluster up|down|status``: a local development cluster in one directory.

3 NATS nodes (JetStream, the batch stream R3), a private PostgreSQL, 2 gateway replicas on the
``jetstream`` backend and 2 sink workers; logs, data and pids in ``--dir``. Loopback only; the
vehicles may connect anonymously (development), operators are per replica (``vmw gateway operator
add ... --database DIR/gwN/gateway.sqlite``). Production layout: docs/cluster.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

GATEWAYS = 2
WORKERS = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cluster", help="start/stop a local NATS + PostgreSQL + gateway cluster")
    sub = p.add_subparsers(dest="action", required=True)
    for name, fn, text in (("up", _up, "start everything"), ("down", _down, "stop everything"),
                           ("status", _status, "what runs, and its endpoints")):  # fmt: skip
        s = sub.add_parser(name, help=text)
        s.add_argument("--dir", default="vmw-cluster", help="state directory (default ./vmw-cluster)")
        s.set_defaults(func=fn)


def _pids_file(root: pathlib.Path) -> pathlib.Path:
    return root / "pids.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_port(port: int, timeout: float, what: str, log: pathlib.Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} not listening on {port} after {timeout:g} s; see {log}")


def _up(args: argparse.Namespace) -> int:
    try:
        from vehicle_mw.cluster.local_nats import LocalNats
        from vehicle_mw.cluster.local_pg import LocalPostgres, free_port
    except ImportError as exc:
        print(f"vmw: error: vmw cluster needs the cluster extra ({exc.name}): install vehicle_mw[cluster]",
              file=sys.stderr)  # fmt: skip
        return 2
    import yaml

    from vehicle_mw.gateway.errors import GatewayError

    root = pathlib.Path(args.dir).resolve()
    if _pids_file(root).exists() and any(_alive(p["pid"]) for p in json.loads(_pids_file(root).read_text())):
        print(f"vmw: error: {root}: a cluster already runs there ('vmw cluster down --dir {args.dir}')",
              file=sys.stderr)  # fmt: skip
        return 2
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # the postgres user (when run as root) must reach root/pg
    procs: list[dict] = []
    try:
        pg = LocalPostgres(root / "pg")
        pg.init()
        pg.start()
        procs.append({"role": "postgresql", "pid": pg.proc.pid, "port": pg.port, "sig": "INT"})
        nats = LocalNats(root / "nats", 3)
        nats.start()
        procs += [
            {"role": f"nats-{n.name}", "pid": n.proc.pid, "port": n.port, "sig": "TERM"} for n in nats.nodes
        ]
        dsn_file = root / "dsn"
        dsn_file.write_text(pg.dsn + "\n")
        os.chmod(dsn_file, 0o600)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for i in range(WORKERS):
            log = root / f"worker{i}.log"
            cmd = [sys.executable, "-m", "vehicle_mw.cluster.worker", "--dsn-file", str(dsn_file)]
            for url in nats.urls:
                cmd += ["--nats", url]
            w = subprocess.Popen(
                cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
            procs.append({"role": f"worker{i}", "pid": w.pid, "sig": "TERM"})
        for i in range(GATEWAYS):
            gdir = root / f"gw{i}"
            gdir.mkdir(exist_ok=True)
            ports = {"grpc_port": free_port(), "ws_port": free_port(), "http_port": free_port()}
            storage = {"backend": "jetstream", "dsn": pg.dsn.split(" password=")[0],
                       "password_file": str(pg.password_file), "nats": nats.urls, "replicas": 3}  # fmt: skip
            config = {"gateway_id": f"gw{i}", "host": "127.0.0.1", **ports, "database": "gateway.sqlite",
                      "allow_anonymous": True, "storage": storage}  # fmt: skip
            conf = gdir / "gateway.yaml"
            conf.write_text(yaml.safe_dump(config))
            os.chmod(conf, 0o600)
            log = gdir / "gateway.log"
            g = subprocess.Popen(
                [sys.executable, "-m", "vehicle_mw", "gateway", "serve", "--config", str(conf)],
                stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
            procs.append({"role": f"gateway{i}", "pid": g.pid, "sig": "TERM", **ports})
        _pids_file(root).write_text(json.dumps(procs, indent=1))
        for p in procs:
            if p["role"].startswith("gateway"):
                _wait_port(p["ws_port"], 60, p["role"], root / f"gw{p['role'][-1]}" / "gateway.log")
    except (GatewayError, RuntimeError, OSError) as exc:
        _pids_file(root).write_text(json.dumps(procs, indent=1))
        _stop_all(root)
        print(f"vmw: error: cluster in {root}: {exc}", file=sys.stderr)
        return 1
    _print_status(root)
    return 0


def _stop_all(root: pathlib.Path, timeout: float = 30.0) -> list[str]:
    path = _pids_file(root)
    if not path.exists():
        return []
    procs = json.loads(path.read_text())
    order = sorted(
        procs,
        key=lambda p: ("gateway", "worker", "nats", "postgresql").index(
            p["role"].rstrip("0123456789").split("-")[0]
        ),
    )  # noqa: E501
    stopped = []
    for p in order:  # gateways first (vehicles stop), workers drain, then NATS, then PostgreSQL
        if _alive(p["pid"]):
            os.kill(p["pid"], signal.SIGINT if p["sig"] == "INT" else signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(p["pid"]) and time.monotonic() < deadline:
                try:
                    os.waitpid(p["pid"], os.WNOHANG)
                except ChildProcessError:
                    pass
                time.sleep(0.05)
            if _alive(p["pid"]):
                os.kill(p["pid"], signal.SIGKILL)
            stopped.append(p["role"])
    path.unlink()
    return stopped


def _down(args: argparse.Namespace) -> int:
    root = pathlib.Path(args.dir).resolve()
    stopped = _stop_all(root)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'} ({root})")
    return 0


def _print_status(root: pathlib.Path) -> int:
    path = _pids_file(root)
    if not path.exists():
        print(f"no cluster in {root}")
        return 3
    down = 0
    for p in json.loads(path.read_text()):
        state = "up" if _alive(p["pid"]) else "DOWN"
        down += state == "DOWN"
        extra = ""
        if p["role"].startswith("gateway"):
            extra = (
                f"ws://127.0.0.1:{p['ws_port']}/v1/link grpc 127.0.0.1:{p['grpc_port']}"
                f" http://127.0.0.1:{p['http_port']}/"
            )
        elif "port" in p:
            extra = f"127.0.0.1:{p['port']}"
        print(f"{p['role']:<12} {state:<5} pid {p['pid']:<8} {extra}")
    return 1 if down else 0


def _status(args: argparse.Namespace) -> int:
    return _print_status(pathlib.Path(args.dir).resolve())
