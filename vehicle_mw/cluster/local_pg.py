"""A private PostgreSQL server in a directory, for development, tests and benchmarks.

initdb and postgres refuse to run as root, so as root they run as the ``postgres`` user (Debian's
package creates it) and the directory is handed to that user. The server listens on one loopback
port and a unix socket in its own directory; a generated password (scram-sha-256) is kept in a
0600 file, so another local user cannot connect.
"""

from __future__ import annotations

import glob
import os
import pathlib
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time

from vehicle_mw.gateway.errors import GatewayError

USER = "vmw"


class PostgresMissing(GatewayError):
    """No PostgreSQL server binaries on this machine (or no user to run them as root)."""


def pg_bin_dir() -> pathlib.Path:
    """The directory of initdb/postgres: $VMW_PG_BIN, Debian's newest, or the PATH."""
    env = os.environ.get("VMW_PG_BIN")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[::-1]
    found = shutil.which("initdb")
    if found:
        candidates.append(str(pathlib.Path(found).parent))
    for c in candidates:
        if c and (pathlib.Path(c) / "initdb").is_file() and (pathlib.Path(c) / "postgres").is_file():
            return pathlib.Path(c)
    raise PostgresMissing(
        "PostgreSQL server binaries not found (install Debian's 'postgresql' or set VMW_PG_BIN)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresMissing(
            "running as root and there is no 'postgres' user to run PostgreSQL as"
        ) from None


class LocalPostgres:
    """initdb once in ``root``, then :meth:`start`, :meth:`stop`, :meth:`kill`; ``dsn`` connects."""

    def __init__(self, root: str | pathlib.Path, port: int | None = None):
        self.root = pathlib.Path(root).resolve()
        self.data = self.root / "data"
        self.sock_dir = self.root / "sock"
        self.log_path = self.root / "postgres.log"
        self.port_file = self.root / "port"
        self.password_file = self.root / "password"
        self.bin = pg_bin_dir()
        self.user = _run_as()
        self.proc: subprocess.Popen | None = None
        if port is None and self.port_file.exists():
            port = int(self.port_file.read_text())
        self.port = port or free_port()

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} password={self.password} dbname={USER}"

    def _popen_kw(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _chown(self, path: pathlib.Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def init(self) -> None:
        """Create the cluster and the ``vmw`` database unless they exist."""
        if (self.data / "PG_VERSION").exists():
            return
        for d in (self.root, self.sock_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._chown(d)
        if self.user is not None:  # every parent must let the postgres user through
            for parent in self.root.parents:
                if not os.access(parent, os.X_OK) or (parent.stat().st_mode & 0o001) == 0:
                    raise PostgresMissing(
                        f"{self.root}: the postgres user cannot reach it ({parent} is not world-searchable);"
                        " choose a directory under /tmp or /var/lib"
                    )
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        os.chmod(self.password_file, 0o600)
        self._chown(self.password_file)
        out = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
             f"--pwfile={self.password_file}", "-E", "UTF8", "--no-instructions"],
            capture_output=True, text=True, timeout=120, **self._popen_kw(),
        )  # fmt: skip
        if out.returncode != 0:
            raise GatewayError(f"initdb {self.data} failed: {out.stderr.strip()[-500:]}")
        self.port_file.write_text(f"{self.port}\n")
        self.start()
        try:
            self._psql_create_db()
        finally:
            self.stop()

    def _psql_create_db(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn.replace(f"dbname={USER}", "dbname=postgres"), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {USER}")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self._chown(self.log_path)
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sock_dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "shared_buffers=128MB",
             "-c", "fsync=on", "-c", "synchronous_commit=on"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._popen_kw(),
        )  # fmt: skip
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise GatewayError(f"postgres exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with psycopg.connect(
                    self.dsn.replace(f"dbname={USER}", "dbname=postgres"), connect_timeout=2
                ):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise GatewayError(f"postgres on port {self.port} not ready in {timeout:g} s") from None
                time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: sessions ended, everything committed stays)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash: recovery replays the WAL at the next start)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> LocalPostgres:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["LocalPostgres", "PostgresMissing", "free_port", "pg_bin_dir"]
