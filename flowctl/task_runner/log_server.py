"""Task logs served by the machine that wrote them, for a web server on another machine.

A Celery worker writes each try's log under its own ``[logging] base_log_folder``;
the web server looks there first (one folder shared by every machine is
simplest), and for a try whose file it does not have, asks the machine that ran
it (the task instance's ``hostname``) over HTTP, as Airflow's worker log server
does: ``flowctl celery worker`` serves its log folder on ``[logging]
worker_log_server_port`` (8793, as Airflow's; 0: off).

``GET /log/<path under the log folder>?offset=N&limit=M`` answers the bytes from
``offset`` (at most ``limit``) and the file's size (``X-Log-Size``). Every request
carries a token the web server signs with ``[webserver] secret_key`` (HMAC-SHA256
of the path and an expiry a minute ahead), so workers and web server must share
that key; a worker without one serves nothing. Only files inside the log folder
are served: an absolute path, ``..`` or a link out of the folder is refused.
Must not import SQLAlchemy, flask, web or cli.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_SECONDS = 60  # a token's life: long enough for clocks a little apart, too short to reuse
MAX_CHUNK = 4 * 1024 * 1024
_SCHEME = "flowctl-log"


def sign(secret: str, path: str, now: float | None = None) -> str:
    """The ``Authorization`` header value for ``path`` (relative to the log folder)."""
    expires = int((time.time() if now is None else now) + TOKEN_SECONDS)
    return f"{_SCHEME} {expires}.{_mac(secret, path, expires)}"


def _mac(secret: str, path: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def _valid(secret: str, path: str, header: str, now: float) -> bool:
    scheme, _, token = header.partition(" ")
    expires_text, _, mac = token.partition(".")
    if scheme != _SCHEME or not expires_text.isdigit():
        return False
    expires = int(expires_text)
    if not now <= expires <= now + 2 * TOKEN_SECONDS:
        return False
    return hmac.compare_digest(mac, _mac(secret, path, expires))


def _inside(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` if it names a file inside ``folder`` (links resolved), else None."""
    if not relative or relative.startswith("/") or "\\" in relative or ".." in Path(relative).parts:
        return None
    root = folder.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) else None


class LogServer:
    """Serves one log folder on ``host:port`` in a daemon thread (port 0: any free one)."""

    def __init__(self, folder: str | Path, secret: str, host: str = "0.0.0.0", port: int = 8793) -> None:
        if not secret:
            raise ValueError("a log server needs [webserver] secret_key, shared with the web server")
        folder, secret_key = Path(folder), secret

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlsplit(self.path)
                if not url.path.startswith("/log/"):
                    return self._fail(404, "not found")
                relative = urllib.parse.unquote(url.path[len("/log/"):])
                if not _valid(secret_key, relative, self.headers.get("Authorization", ""), time.time()):
                    return self._fail(403, "forbidden: a token signed with [webserver] secret_key is needed")
                target = _inside(folder, relative)
                if target is None:
                    return self._fail(400, "the path must name a file inside the log folder")
                query = urllib.parse.parse_qs(url.query)
                try:
                    offset = max(0, int(query.get("offset", ["0"])[0]))
                    limit = min(MAX_CHUNK, max(0, int(query.get("limit", [str(MAX_CHUNK)])[0])))
                except ValueError:
                    return self._fail(400, "offset and limit are whole numbers")
                try:
                    with target.open("rb") as handle:
                        size = handle.seek(0, 2)
                        handle.seek(min(offset, size))  # past the end: nothing (a file system may refuse the seek)
                        data = handle.read(limit)
                except OSError:
                    return self._fail(404, "no such log file")
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Log-Size", str(size))
                self.end_headers()
                self.wfile.write(data)

            def _fail(self, code: int, message: str) -> None:
                body = message.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
                log.debug("log server: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

    def start(self) -> LogServer:
        threading.Thread(target=self._server.serve_forever, name="flowctl-log-server", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class RemoteChunk:
    """What a worker answered: ``data`` from ``offset``, the file's ``size``; or why not (``error``)."""

    data: bytes
    size: int
    error: str = ""
    found: bool = True


def fetch(host: str, port: int, relative: str, secret: str, offset: int, limit: int,
          timeout: float = 5.0) -> RemoteChunk:
    """Bytes of a log a worker serves (see the module docstring); never raises for a worker that
    is down, refuses or has no such file: ``found`` and ``error`` say so."""
    url = (f"http://{host}:{port}/log/{urllib.parse.quote(relative)}?"
           + urllib.parse.urlencode({"offset": max(0, offset), "limit": max(0, limit)}))
    request = urllib.request.Request(url, headers={"Authorization": sign(secret, relative)})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http to a worker
            return RemoteChunk(response.read(), int(response.headers.get("X-Log-Size", "0")))
    except urllib.error.HTTPError as exc:
        return RemoteChunk(b"", 0, f"the worker answered {exc.code}: {exc.read().decode(errors='replace')}",
                           found=False)
    except (OSError, ValueError) as exc:
        return RemoteChunk(b"", 0, f"the worker's log server at {host}:{port} did not answer: {exc}", found=False)
