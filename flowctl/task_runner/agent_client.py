"""The zygote's and the tries' side of the task agent (``flowctl.task_runner.agent``).

:class:`AgentStore` looks like a Store to the runner: the verbs in
``agent.VERBS`` are sent to the agent, one JSON line each, over a connection
made the first time a process needs one (a forked try never reuses its
parent's); ``check_xcom`` is answered here; anything else, or everything when
the agent cannot be reached, goes to a Store of this process's own, made when
first needed (that imports SQLAlchemy: slower, never wrong). A request that
was sent but whose answer never came raises ``ConnectionError``, as a dropped
database connection would: it is not sent again, since it may have been done.
Threads of a process take turns on its connection (a try's heartbeat thread
calls the agent while its task reads XComs), so each gets the answer to its
own request; the answer of a ``begin()`` never taken is read and dropped
before the next request, so a later call never gets it for its own.

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
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
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
        self._owed: socket.socket | None = None  # the connection a begin() was sent on, until its answer is taken
        self._turn = threading.Lock()  # held from a request's sending until its answer is read
        self._turn_pid = os.getpid()
        self._own: Any = None
        self._before_connect: tuple[int, Callable[[], None]] | None = None

    def before_connecting(self, check: Callable[[], None]) -> None:
        """Call ``check`` before each new connection this process (not a forked try) makes: the
        zygote starts an agent that died, for its socket accepts connections, and queues requests
        that only an agent answers, even while none runs."""
        self._before_connect = (os.getpid(), check)

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
        with self._turn_of_this_process():
            sock = self._connection_in_step()
            if sock is not None:
                self._send(sock, verb, args, kwargs)
                encoded = self._answer(sock)
        if sock is None:
            return getattr(self.own_store(), verb)(*args, **kwargs)
        return wire.decode(encoded)

    def begin(self, verb: str, *args: Any, **kwargs: Any) -> Callable[[], tuple[Any, Any]]:
        """Send ``verb(*args, **kwargs)`` now; the function returned waits for the answer and gives
        it with its wire encoding. The caller works meanwhile (the zygote forks while the agent
        writes its claims). For a caller of one thread: a call made before the answer is taken
        drops it (it raises ``ConnectionError`` then)."""
        with self._turn_of_this_process():
            sock = self._connection_in_step()
            if sock is not None:
                self._send(sock, verb, args, kwargs)
                self._owed = sock
        if sock is None:
            value = getattr(self.own_store(), verb)(*args, **kwargs)
            return lambda: (value, wire.encode(value))

        def answer() -> tuple[Any, Any]:
            with self._turn_of_this_process():
                if self._owed is not sock:
                    raise ConnectionError(f"the answer to {verb} was dropped: another request came first")
                self._owed = None
                encoded = self._answer(sock)
            return wire.decode(encoded), encoded
        return answer

    def _turn_of_this_process(self) -> threading.Lock:
        """The lock its threads take turns with on this process's connection (a forked child's own:
        the parent's may be held by a thread the child does not have)."""
        if self._turn_pid != os.getpid():
            self._turn, self._turn_pid = threading.Lock(), os.getpid()
        return self._turn

    def _connection_in_step(self) -> socket.socket | None:
        """This process's connection with no answer owed on it: a begin()'s answer never taken is
        read and dropped first, so the next request does not get it for its own."""
        sock = self._connection()
        if sock is not None and self._owed is sock:
            self._owed = None
            try:
                _read_line(sock)
            except BaseException:
                self._disconnect()
                raise
        return sock

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
        if self._before_connect is not None and self._before_connect[0] == os.getpid():
            self._before_connect[1]()
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
        self._sock = self._owed = None


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the task agent closed the connection before answering")
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


class AgentSeat:
    """A task agent's socket and pipes, made before the agent exists.

    The scheduler makes one, starts the zygote with it (``zygote_argv`` and ``zygote_fds`` tell
    how), then forks the agent into it (``agent.fork_agent``) once it has imported the database
    stack: the zygote and the agent start at once, and the agent costs no interpreter start.
    Clients queue on the listening socket until the agent accepts. The agent serves until EOF
    on ``stop_r``, whose write end only the zygote (and its tries) hold; it holds ``life_w`` alone
    and writes its pid there first, so the zygote reads its pid, and sees EOF when it is gone.
    """

    def __init__(self) -> None:
        self.folder, self.path, self.listener = _private_socket()
        self.stop_r, self.stop_w = os.pipe()
        self.life_r, self.life_w = os.pipe()

    def zygote_argv(self) -> list[str]:
        return ["--agent", self.path, str(self.listener.fileno()), str(self.stop_w), str(self.life_r)]

    def zygote_fds(self) -> tuple[int, ...]:
        return self.listener.fileno(), self.stop_w, self.life_r

    def zygote_started(self) -> None:
        """The zygote has its copies: the zygote's ends close here, before the agent is forked."""
        for fd in (self.stop_w, self.life_r):
            os.close(fd)

    def agent_forked(self) -> None:
        """The agent has its copies: the rest closes here (the zygote owns the folder from now on)."""
        self.listener.close()
        for fd in (self.stop_r, self.life_w):
            os.close(fd)


class AgentProcess:
    """The zygote's agent: a listening socket in a private folder, and the process serving it.

    Made here (the agent is this process's child, stopped by EOF on its stdin), or adopted from an
    :class:`AgentSeat` whose agent the scheduler forked (``adopt``); either way, an agent that
    died is replaced by a child of this process.
    """

    def __init__(self, settings: Settings, adopt: list[str] | None = None) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **settings_environ(settings)}
        self.adopted_pid: int | None = None
        self._stop_w: int | None = None  # the adopted agent's stop pipe (tries inherit it, as a child's stdin)
        self._life_r: int | None = None
        self._life_buffer = b""
        if adopt:
            path, listen_fd, stop_w, life_r = adopt
            self.folder, self.path = os.path.dirname(path), path
            self.listener = socket.socket(fileno=int(listen_fd))
            self._stop_w, self._life_r = int(stop_w), int(life_r)
            self.store = AgentStore(self.path, settings)
            self.store.before_connecting(self.ensure_running)
            return
        self.folder, self.path, self.listener = _private_socket()
        self.store = AgentStore(self.path, settings)
        self.store.before_connecting(self.ensure_running)
        self.ensure_running()

    def ensure_running(self) -> None:
        """Start the agent if it is not running (its clients queue on the socket meanwhile)."""
        if self._life_r is not None:
            if self._adopted_alive(0.0):
                return
            log.warning("the task agent (pid %s) is gone; starting a new one", self.adopted_pid)
            self._let_go_of_adopted()
            self.store.close()
        elif self.proc is not None and self.proc.poll() is None:
            return
        elif self.proc is not None:
            log.warning("the task agent exited with %s; starting a new one", self.proc.returncode)
            self.store.close()
        fd = self.listener.fileno()
        self.proc = subprocess.Popen([sys.executable, "-m", "flowctl.task_runner.agent", str(fd)],
                                     stdin=subprocess.PIPE, pass_fds=(fd,), env=self.env)

    def _adopted_alive(self, timeout: float) -> bool:
        """Whether the adopted agent still runs (EOF on its life pipe: no), reading its pid on the way."""
        assert self._life_r is not None
        deadline = time.monotonic() + timeout
        while select.select([self._life_r], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(self._life_r, 64)
            if not chunk:
                return False
            self._life_buffer += chunk
            if b"\n" in self._life_buffer:
                self.adopted_pid = int(self._life_buffer.split(b"\n", 1)[0])
            if time.monotonic() >= deadline:
                break
        return True

    def _let_go_of_adopted(self) -> None:
        for fd in (self._stop_w, self._life_r):
            if fd is not None:
                os.close(fd)
        self._stop_w = self._life_r = None

    def leave_to_parent(self) -> None:
        """In a forked try: close the zygote's listening socket and agent connection (the try's own
        requests use a connection of its own). If the zygote dies, the agent still serves the tries
        that run on, until they end: each holds its stdin (or stop pipe) open."""
        self.listener.close()
        if self._life_r is not None:
            os.close(self._life_r)
            self._life_r = None
        self.store.forget_connection()

    def close(self) -> None:
        """Stop the agent (EOF on its stdin or stop pipe) and remove the socket."""
        self.store.close()
        if self._life_r is not None:
            assert self._stop_w is not None
            os.close(self._stop_w)
            self._stop_w = None
            if self._adopted_alive(5.0) and self.adopted_pid is not None:
                try:
                    os.kill(self.adopted_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._let_go_of_adopted()
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _private_socket() -> tuple[str, str, socket.socket]:
    """A listening Unix socket in a new folder of mode 0700 (only this user connects): folder, path, socket."""
    folder = tempfile.mkdtemp(prefix="flowctl-agent-")
    path = os.path.join(folder, SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(256)
    return folder, path, listener
