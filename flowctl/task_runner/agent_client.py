"""The zygote's and the tries' side of the task agent (``flowctl.task_runner.agent``).

:class:`AgentStore` looks like a Store to the runner: the verbs in
``agent.VERBS`` are sent to the agent, one JSON line each, over a connection
made the first time a process needs one (a forked try never reuses its
parent's); ``check_xcom`` is answered here; anything else, or everything when
the agent cannot be reached, goes to a Store of this process's own, made when
first needed (that imports SQLAlchemy: slower, never wrong). A request that
was sent but whose answer never came raises ``ConnectionError``, as a dropped
database connection would: it is not sent again, since it may have been done.

:class:`AgentProcess` is the zygote's handle: it owns the listening socket in
a private folder, starts the agent on it and starts a new one if it died.
Must not import SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.xcom_values import check_xcom_value
from flowctl.executors import settings_environ
from flowctl.settings import Settings
from flowctl.task_runner import wire
from flowctl.task_runner.agent import VERBS

log = logging.getLogger(__name__)
SOCKET_NAME = "agent.sock"


class AgentStore:
    """Store verbs through the task agent at ``path``; the rest through a Store of this process."""

    def __init__(self, path: str, settings: Settings) -> None:
        self.path = path
        self.settings = settings
        self.xcom_max_size = int(settings.get("core", "xcom_max_size"))
        self._sock: socket.socket | None = None
        self._sock_pid = 0
        self._own: Any = None

    def __getattr__(self, name: str) -> Any:
        if name in VERBS:
            return functools.partial(self.call, name)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.own_store(), name)

    def check_xcom(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        """What ``xcom_push`` would raise for this value, checked here."""
        check_xcom_value(ti, key, value, self.xcom_max_size)

    def call(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        """``verb(*args, **kwargs)`` done by the agent (by our own Store if it cannot be reached)."""
        sock = self._connection()
        if sock is None:
            return getattr(self.own_store(), verb)(*args, **kwargs)
        self._send(sock, verb, args, kwargs)
        return wire.decode(self._answer(sock))

    def begin(self, verb: str, *args: Any, **kwargs: Any) -> Callable[[], tuple[Any, Any]]:
        """Send ``verb(*args, **kwargs)`` now; the function returned waits for the answer and gives
        it with its wire encoding. The caller works meanwhile (the zygote forks while the agent
        writes its claims); nothing else may use this connection until then."""
        sock = self._connection()
        if sock is None:
            value = getattr(self.own_store(), verb)(*args, **kwargs)
            return lambda: (value, wire.encode(value))
        self._send(sock, verb, args, kwargs)

        def answer() -> tuple[Any, Any]:
            encoded = self._answer(sock)
            return wire.decode(encoded), encoded
        return answer

    def _send(self, sock: socket.socket, verb: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        request = wire.dump_line({"m": verb, "a": wire.encode(list(args)), "k": wire.encode(kwargs)})
        try:
            sock.sendall(request)
        except BaseException:  # a signal or a broken socket mid-request: the connection's state is unknown
            self._disconnect()
            raise

    def _answer(self, sock: socket.socket) -> Any:
        """The encoded result of the request just sent (its error raised)."""
        try:
            answer = _read_line(sock)
        except BaseException:
            self._disconnect()
            raise
        message = json.loads(answer)
        if "e" in message:
            raise wire.error_from(message["e"])
        return message["r"]

    def own_store(self) -> Any:
        """This process's own Store (made on first use)."""
        if self._own is None:
            from flowctl.db.store import Store

            self._own = Store.from_settings(self.settings)
        return self._own

    def close(self) -> None:
        self._disconnect()
        if self._own is not None:
            self._own.close()
            self._own = None

    def _connection(self) -> socket.socket | None:
        if self._sock is not None and self._sock_pid == os.getpid():
            return self._sock
        self._sock = None  # a parent's connection stays the parent's: never written to from here
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as error:
            sock.close()
            log.warning("the task agent at %s cannot be reached (%s); using a database connection of our own",
                        self.path, error)
            return None
        self._sock, self._sock_pid = sock, os.getpid()
        return sock

    def forget_connection(self) -> None:
        """Close this process's copy of an inherited connection; the next call connects anew."""
        if self._sock is not None and self._sock_pid != os.getpid():
            self._sock.close()
        self._sock = None

    def _disconnect(self) -> None:
        if self._sock is not None and self._sock_pid == os.getpid():
            self._sock.close()
        self._sock = None


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the task agent closed the connection before answering")
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


class AgentProcess:
    """The zygote's agent: a listening socket in a private folder, and the process serving it."""

    def __init__(self, settings: Settings) -> None:
        self.folder = tempfile.mkdtemp(prefix="flowctl-agent-")  # mode 0700: only this user connects
        self.path = os.path.join(self.folder, SOCKET_NAME)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(256)
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **settings_environ(settings)}
        self.store = AgentStore(self.path, settings)
        self.ensure_running()

    def ensure_running(self) -> None:
        """Start the agent if it is not running (its clients queue on the socket meanwhile)."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            log.warning("the task agent exited with %s; starting a new one", self.proc.returncode)
            self.store.close()
        fd = self.listener.fileno()
        self.proc = subprocess.Popen([sys.executable, "-m", "flowctl.task_runner.agent", str(fd)],
                                     stdin=subprocess.PIPE, pass_fds=(fd,), env=self.env)

    def leave_to_parent(self) -> None:
        """In a forked try: close the zygote's listening socket and agent connection (the try's own
        requests use a connection of its own). If the zygote dies, the agent still serves the tries
        that run on, until they end: each holds its stdin open."""
        self.listener.close()
        self.store.forget_connection()

    def close(self) -> None:
        """Stop the agent (EOF on its stdin) and remove the socket."""
        self.store.close()
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)
