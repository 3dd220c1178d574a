"""The task agent: the local executor's one process that talks to the metadata database for tries.

The zygote forks every try, so whatever it has imported every try pays for at
fork and exit (page tables) and in copied pages. SQLAlchemy, the database
driver, cryptography and the Store are most of that, so the zygote leaves them
here: it starts this process (``python -m flowctl.task_runner.agent
LISTEN_FD``) on a listening Unix socket it owns, in a private folder. The
zygote claims, ends and heartbeats tries through it, and each try reaches it
only when its own code reads or writes the database (XComs, Variables,
Connections, skips, sensor history): a connection per try, made when first
needed. Requests are one JSON line each (``flowctl.task_runner.wire``):
``{"m": verb, "a": args, "k": kwargs}``, answered by ``{"r": result}`` or
``{"e": {"type", "message"}}``; only the verbs in ``VERBS`` are served. The
agent serves one request at a time, in the order they came, each verb in its
own transaction as always. It exits when its stdin reaches EOF (the zygote is
gone); the zygote starts a new one on the same socket if it dies, so waiting
clients only queue. ``flowctl scheduler`` does better at start-up: it makes the
socket first (``agent_client.AgentSeat``), starts the zygote with it, then forks
this agent from itself once it has imported the database stack anyway
(:func:`fork_agent`); that agent stops at EOF of a pipe only the zygote and its
tries hold. Must not import web, cli or scheduler.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

from flowctl.core.errors import first_line
from flowctl.settings import Settings
from flowctl.task_runner import wire

#: The Store verbs a try or the zygote may call here.
VERBS = frozenset({
    "start_try", "start_tries", "finish_try", "finish_tries", "finish_and_start_tries", "finish_and_follow",
    "heartbeat_task",
    "heartbeat_tries",
    "save_rendered_fields", "skip_tasks", "previous_success", "record_reschedule", "reschedule_history",
    "defer_try",  # a try that defers (core/deferral.py) writes its deferral itself
    "external_states", "external_dag_tree", "xcom_push", "xcom_pull", "xcom_pull_mapped", "list_xcoms", "get_variable",
    "set_variable", "delete_variable", "get_connection", "get_run", "get_task_instance",
    # reads behind ti.xcom_pull(include_prior_dates=...), ti.previous_ti, dag_run.get_task_instances()
    "xcom_pull_prior", "list_runs", "list_task_instances",
    "trigger_dag", "notify_scheduler",  # TriggerDagRunOperator (task_runner/run_control.py)
    "triggering_dataset_events",  # the context of a dataset-triggered run
    "list_dataset_events",  # inlet_events (core/inlet_events.py), read when a task looks
})
SEND_TIMEOUT = 30.0  # seconds a client may take to read its answer before it is dropped


class Agent:
    """Serves Store verbs to the zygote and its tries over one listening socket."""

    def __init__(self, store: Any, listener: socket.socket) -> None:
        self.store = store
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytes] = {}

    def serve(self, stop_fd: int = 0) -> None:
        """Answer requests until ``stop_fd`` reaches EOF."""
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(stop_fd, selectors.EVENT_READ)
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj == stop_fd:
                    if not os.read(stop_fd, 4096):
                        return
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        client.setblocking(False)
        self.buffers[client] = b""
        self.selector.register(client, selectors.EVENT_READ)

    def _read(self, client: socket.socket) -> None:
        try:
            chunk = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(client)
            return
        *lines, self.buffers[client] = (self.buffers[client] + chunk).split(b"\n")
        for line in lines:
            if line.strip() and not self._answer(client, self.handle(line)):
                return

    def handle(self, line: bytes) -> bytes:
        """The answer line to one request line."""
        try:
            request = json.loads(line)
            verb = request["m"]
            if verb not in VERBS:
                raise PermissionError(f"{verb!r} is not a task agent verb")
            args = wire.decode(request.get("a") or [])
            kwargs = wire.decode(request.get("k") or {})
            return wire.dump_line({"r": wire.encode(getattr(self.store, verb)(*args, **kwargs))})
        except Exception as error:  # noqa: BLE001 - the process boundary: the error goes to the caller
            return wire.dump_line({"e": wire.error_message(error)})

    def _answer(self, client: socket.socket, answer: bytes) -> bool:
        try:
            client.setblocking(True)
            client.settimeout(SEND_TIMEOUT)
            client.sendall(answer)
            client.setblocking(False)
            return True
        except OSError:  # the client went away (or stopped reading): its request is over
            self._drop(client)
            return False

    def _drop(self, client: socket.socket) -> None:
        self.buffers.pop(client, None)
        try:
            self.selector.unregister(client)
        except (KeyError, ValueError):
            pass
        client.close()


def serve_agent(settings: Settings, listener: socket.socket, stop_fd: int) -> None:
    """Make the Store, compile the tries' statements, then answer on ``listener`` until EOF on ``stop_fd``."""
    from flowctl.db.store import Store

    store = Store.from_settings(settings)
    warm_or_say_why(store)
    try:
        Agent(store, listener).serve(stop_fd)
    finally:
        store.close()


def warm_or_say_why(store: Any) -> None:
    """Compile the tries' statements on ``store``; if that fails, say why on stderr and go on."""
    from flowctl.task_runner.warmup import warm_store

    try:
        warm_store(store)
    except Exception as error:  # noqa: BLE001 - warming is an optimisation; the verbs report real failures
        if not type(error).__module__.startswith("sqlalchemy"):
            traceback.print_exc()  # a bug: its traceback is worth more than a line
            return
        # The database's own error (an unmigrated database, say): the scheduler names it too, in one line
        print(f"flowctl agent: cannot warm up on the metadata database ({first_line(error)}); "
              "is it migrated (`flowctl db migrate`)?", file=sys.stderr)


def main(argv: list[str]) -> None:
    """Entry point: ``python -m flowctl.task_runner.agent LISTEN_FD`` (settings in the environment)."""
    serve_agent(Settings.load(), socket.socket(fileno=int(argv[0])), 0)


def fork_agent(seat: Any, settings: Settings) -> None:
    """Become, in a grandchild of this process, the agent of ``seat`` (an ``AgentSeat``).

    The scheduler calls this once it has imported the database stack itself, so the agent costs
    a fork instead of an interpreter that imports SQLAlchemy on the two cores the scheduler, the
    zygote and the DAG processors are starting on: it is ready well before the first DAG is. Call
    it before this process opens any database connection or starts a thread. The middle process
    exits at once (nobody has to reap the agent); the zygote learns the agent's pid, and its end,
    from the seat's life pipe.
    """
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                _become_agent(seat, settings)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    seat.agent_forked()


def _become_agent(seat: Any, settings: Settings) -> None:
    """In the forked agent: keep only the seat's descriptors (and the logs'), serve, never return."""
    code = 1
    try:
        gc.freeze()  # the forking process's objects are never collected here (nor their files closed)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the scheduler, which decides
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        keep = {seat.listener.fileno(), seat.stop_r, seat.life_w, *_logging_fds()}
        _close_fds_except(keep)  # e.g. the zygote's stdin: it must see EOF when the scheduler stops
        _name_process(b"flowctl agent")
        os.write(seat.life_w, f"{os.getpid()}\n".encode())
        serve_agent(settings, seat.listener, seat.stop_r)
        code = 0
    except BaseException:  # noqa: BLE001 - the process boundary
        traceback.print_exc()
    finally:
        os._exit(code)


def _name_process(name: bytes) -> None:
    """What ps -o comm and top show for this process (its command line stays the scheduler's)."""
    try:
        with open("/proc/self/comm", "wb") as comm:
            comm.write(name)
    except OSError:
        pass


def _logging_fds() -> set[int]:
    fds = set()
    for handler in logging.getLogger().handlers:
        try:
            fds.add(handler.stream.fileno())  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            pass
    return fds


def _close_fds_except(keep: set[int]) -> None:
    start = 3
    for fd in sorted(fd for fd in keep if fd >= 3):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, os.sysconf("SC_OPEN_MAX"))


if __name__ == "__main__":
    main(sys.argv[1:])
