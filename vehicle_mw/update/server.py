"""HTTP serving of both repositories for tools and tests (stdlib ``http.server`` in a thread).

Why the stdlib server: the repositories are static files plus one POST (version reports), the
core install has no ASGI server (fastapi/uvicorn are the gateway extra), and the vehicle link
will carry the same requests later (see :mod:`vehicle_mw.update.fetcher`). Routes::

    GET  /image/metadata/<file>        GET /image/targets/<path>
    GET  /director/<vehicle>/<file>    (N.root.json from the shared Director root)
    POST /director/<vehicle>/manifest  (a signed version report; 200, or 4xx {"reason", "message"})
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import pathlib
import re
import sys
import threading
from typing import Any

from vehicle_mw.update.director import Director
from vehicle_mw.update.errors import UpdateError, UpdateRefused
from vehicle_mw.update.version_report import MAX_REPORT_BYTES

log = logging.getLogger("vehicle_mw.update.server")
SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
CHUNK = 64 * 1024


def safe_join(base: pathlib.Path, rel: str) -> pathlib.Path | None:
    """``base/rel`` when every segment is a plain name (no '..', no hidden files), else None."""
    parts = rel.split("/")
    if not parts or not all(SEGMENT_RE.match(p) for p in parts):
        return None
    return base.joinpath(*parts)


def repo_file(repo: pathlib.Path, path: str) -> pathlib.Path | None:
    """The file behind a repository path (``image/metadata/F``, ``image/targets/P``,
    ``director/<vehicle>/F``), the same for HTTP and the vehicle link; None when not a plain path."""
    if path.startswith("image/metadata/"):
        return safe_join(repo / "image" / "metadata", path[len("image/metadata/") :])
    if path.startswith("image/targets/"):
        return safe_join(repo / "image" / "targets", path[len("image/targets/") :])
    m = re.match(r"^director/([^/]+)/([^/]+)$", path)
    if m and SEGMENT_RE.match(m.group(1)):
        if re.match(r"^\d+\.root\.json$", m.group(2)) or m.group(2) == "root.json":
            return safe_join(repo / "director" / "root", m.group(2))
        return safe_join(repo / "director" / "vehicles" / m.group(1), m.group(2))
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _file_for(self, path: str) -> pathlib.Path | None:
        return repo_file(self.server.repo_path, path.lstrip("/"))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self._file_for(self.path.split("?", 1)[0])
        try:
            f = open(path, "rb") if path is not None else None  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            f = None
        if f is None:
            self._reply(404, {"reason": "not_found", "message": self.path})
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while chunk := f.read(CHUNK):
                self.wfile.write(chunk)
            self.server.bytes_served += size

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        m = re.match(r"^/director/([^/]+)/manifest$", self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if m is None:
            self._reply(404, {"reason": "not_found", "message": self.path})
            return
        if length > MAX_REPORT_BYTES:
            self._reply(413, {"reason": "endless_data", "message": f"report over {MAX_REPORT_BYTES} B"})
            self.close_connection = True
            return
        data = self.rfile.read(length)
        try:
            signed = self.server.director.receive_report(m.group(1), data)
        except UpdateRefused as exc:
            code = 409 if exc.reason == "replay" else (404 if exc.reason == "unknown_vehicle" else 400)
            self._reply(code, exc.as_dict())
            return
        except UpdateError as exc:
            self._reply(400, {"reason": "invalid_report", "message": str(exc)})
            return
        self._reply(200, {"accepted": signed["counter"]})

    def _reply(self, code: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    repo_path: pathlib.Path
    director: Director
    bytes_served: int = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-transfer (a vehicle killed or offline) is not a server error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
            return
        log.exception("request from %s failed", client_address)


class UpdateServer:
    """Serve the repositories under ``repo_path`` (``image/``, ``director/``) on ``host:port``."""

    def __init__(self, repo_path: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.repo_path = pathlib.Path(repo_path)
        self._server.director = Director(self._server.repo_path / "director")
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def bytes_served(self) -> int:
        return self._server.bytes_served

    def start(self) -> UpdateServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vmw-update-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> UpdateServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
