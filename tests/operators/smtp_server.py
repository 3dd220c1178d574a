"""A tiny SMTP server for tests: a thread that speaks enough SMTP to accept messages and records them.

EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT; no STARTTLS (tests set
``smtp_starttls`` false). ``drop_first`` connections are closed before the greeting, as a server
that is not ready does. ``on_message`` runs when a message arrives, before the server answers 250.
Python 3.12 removed smtpd, hence this.
"""
from __future__ import annotations

import base64
import email
import email.policy
import queue
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass
class Received:
    """One message as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None = None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def html(self) -> str:
        body = self.message.get_body(("html",))
        assert body is not None
        return str(body.get_content())


@dataclass
class SmtpServer:
    """The server's address and what it received."""

    port: int
    inbox: queue.Queue[Received] = field(default_factory=queue.Queue)
    drop_first: int = 0
    connections: int = 0
    on_message: Callable[[Received], None] | None = None

    def next_message(self, timeout: float = 5.0) -> Received:
        """The next message received, waiting up to ``timeout`` seconds for it."""
        return self.inbox.get(timeout=timeout)

    def nothing_received(self) -> bool:
        return self.inbox.empty()


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        state = self.server.state
        state.connections += 1
        if state.connections <= state.drop_first:
            return  # closed before the greeting: smtplib raises SMTPServerDisconnected
        self._reply("220 test-smtp ready")
        mail_from, rcpt_tos, login = "", [], None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb, _, arg = line.decode("ascii", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self._reply("250-test-smtp", "250 AUTH PLAIN")
            elif verb in ("HELO", "NOOP"):
                self._reply("250 OK")
            elif verb == "AUTH":
                login = base64.b64decode(arg.split(" ", 1)[1]).decode().split("\0")[1]
                self._reply("235 Authentication successful")
            elif verb == "MAIL":
                mail_from, rcpt_tos = _address(arg), []
                self._reply("250 OK")
            elif verb == "RCPT":
                rcpt_tos.append(_address(arg))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                received = Received(mail_from, rcpt_tos, self._read_data(), login)
                if state.on_message is not None:
                    state.on_message(received)
                state.inbox.put(received)
                self._reply("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpt_tos = "", []
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")

    def _read_data(self) -> bytes:
        lines: list[bytes] = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b".\n", b""):
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)

    def _reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: SmtpServer


def _address(arg: str) -> str:
    """``FROM:<a@b> SIZE=1`` -> ``a@b``."""
    _, _, rest = arg.partition(":")
    return rest.strip().split(" ")[0].strip("<>")


@contextmanager
def running_smtp_server(**options: Any) -> Iterator[SmtpServer]:
    """An SMTP server on a free port of 127.0.0.1, stopped on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = SmtpServer(port=server.server_address[1], **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
