"""The local executor's warm parent: imports flowctl once, then forks one child per task try.

Started by :class:`flowctl.executors.local.LocalExecutor` as
``python -m flowctl.task_runner.zygote EVENT_FD`` with its settings in the
environment. It reads workloads, one JSON object per line, on stdin; for each
it imports the DAG file (cached by path and mtime, so children inherit the
module) and hands it to a pre-forked spare child (already connected to the
database) or forks a new one. Spares forked before a DAG file (version) was
first imported here are retired when it is, so no try imports it again. The
child starts a new session (its own process group, so ``terminate`` can
kill the task and everything it started), resets signal handlers, runs :func:`run_workload` and ``os._exit``\\ s with 0 when the try
ended normally (the row holds its state) or 1 when it crashed. The zygote
reaps children on SIGCHLD and writes ``started`` / ``exited`` events, one JSON
line each, to EVENT_FD. On EOF of stdin it exits; children keep running and
record their own final states. Runs user code (DAG file imports) but never
in the scheduler's process.
"""
from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.executors.base import Workload
from flowctl.executors.local import workload_from_json
from flowctl.settings import Settings
from flowctl.task_runner import dagfile

#: A task instance that never exists, used to compile statements.
WARMUP_KEY = TaskInstanceKey("__flowctl_warmup__", "__none__", "__none__")
#: Idle pre-forked children kept ready (at most ``[core] parallelism``).
MAX_SPARES = 4


class Zygote:
    """The fork loop; one instance per zygote process.

    It keeps ``spares`` pre-forked idle children, each already in its own
    session with a database connection open, waiting on a pipe for one
    workload: a try then starts without paying for the fork and the connect.
    When none is idle, a child is forked for the workload directly.
    """

    def __init__(self, settings: Settings, event_fd: int, store: Any = None, spares: int = 0) -> None:
        self.settings = settings
        self.store = store
        self.event_fd = event_fd
        self.spares = spares
        self.children: dict[int, int | None] = {}  # pid -> request id (None: idle spare)
        self.idle: list[tuple[int, int]] = []  # (pid, write end of its workload pipe)
        self.preloaded: dict[str, float | None] = {}  # DAG file -> mtime when imported here (None: missing)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the scheduler, which decides
        buffer = b""
        self._replenish()
        while True:
            readable, _, _ = select.select([0, self.wake_r], [], [], 1.0)
            if self.wake_r in readable:
                _drain(self.wake_r)
            if 0 in readable:
                chunk = os.read(0, 65536)
                if not chunk:
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._start(json.loads(line))
            self._reap()
            self._replenish()

    def _start(self, request: dict[str, Any]) -> None:
        workload = workload_from_json(request)
        version = _mtime(workload.fileloc)
        if self.preloaded.get(workload.fileloc) != version:
            # The idle spares were forked without this file (version): import it here once and
            # fork this try directly, rather than have the spare and every later one import it.
            self.preloaded[workload.fileloc] = version
            _preload(workload.fileloc)
            self._retire_idle()
        if self.idle:
            pid, write_fd = self.idle.pop(0)
            _write_all(write_fd, json.dumps(request).encode())
            os.close(write_fd)
        else:
            gc.freeze()  # the child's collector then never touches (and copies) the inherited objects
            pid = os.fork()
            if pid == 0:
                self._become_worker()
                self._run_and_exit(workload)
        self.children[pid] = int(request["id"])
        self._emit({"ev": "started", "id": request["id"], "pid": pid})

    def _retire_idle(self) -> None:
        """Let every idle spare exit (EOF on its workload pipe); _replenish forks fresh ones."""
        for _, write_fd in self.idle:
            os.close(write_fd)
        self.idle.clear()

    def _replenish(self) -> None:
        while len(self.idle) < self.spares:
            read_fd, write_fd = os.pipe()
            gc.freeze()
            pid = os.fork()
            if pid == 0:
                os.close(write_fd)
                self._become_worker()
                self._wait_and_run(read_fd)
            os.close(read_fd)
            self.children[pid] = None
            self.idle.append((pid, write_fd))

    def _become_worker(self) -> None:
        """In a fresh child: own session, default signals, none of the zygote's pipes."""
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w, self.event_fd, *(w for _, w in self.idle)):
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        if self.store is not None:
            self.store.engine.dispose(close=False)  # never share the parent's connections

    def _wait_and_run(self, read_fd: int) -> None:
        """A spare: connect now, then wait for one workload (EOF without one: exit quietly)."""
        if self.store is not None:
            try:
                self.store.engine.connect().close()  # the pool keeps it open for the try
            except Exception:  # noqa: BLE001 - the try will connect (and report) by itself
                pass
        data = b""
        while chunk := os.read(read_fd, 65536):
            data += chunk
        if not data.strip():
            os._exit(0)
        self._run_and_exit(workload_from_json(json.loads(data)))

    def _run_and_exit(self, workload: Workload) -> None:
        code = 1
        try:
            from flowctl.task_runner.runner import run_workload

            run_workload(workload, self.settings, self.store)
            code = 0
        except BaseException:  # noqa: BLE001 - the process boundary: report a crash by exit code
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            request_id = self.children.pop(pid, None)
            self._forget_idle(pid)
            if request_id is not None:
                self._emit({"ev": "exited", "id": request_id, "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def _forget_idle(self, pid: int) -> None:
        for entry in [e for e in self.idle if e[0] == pid]:
            self.idle.remove(entry)
            os.close(entry[1])

    def _emit(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            written = os.write(self.event_fd, data)
            data = data[written:]


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _mtime(fileloc: str) -> float | None:
    try:
        return os.stat(fileloc).st_mtime
    except OSError:
        return None


def _preload(fileloc: str) -> None:
    """Import the DAG file here so the child inherits it; a failure is the child's to report."""
    try:
        dagfile.load_file(fileloc)
    except Exception:  # noqa: BLE001 - the child imports again and records the error in the try's log
        pass


def _warm_imports() -> None:
    """Import what every try needs, once, here: children inherit the modules."""
    import importlib

    for name in ("flowctl.db.store", "flowctl.task_runner.runner", "flowctl.core.templating", "jinja2.ext",
                 "jinja2.nativetypes", "pendulum", "flowctl.models.variable", "flowctl.models.connection",
                 "flowctl.hooks.base", "flowctl.operators.python", "flowctl.operators.branch",
                 "flowctl.operators.bash", "flowctl.operators.empty", "flowctl.sensors.base",
                 "flowctl.decorators", "pprint"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _warm_store(settings: Settings) -> Any:
    """A Store whose engine has compiled the runner's statements once; children inherit it.

    SQLAlchemy caches compiled SQL per engine: a fresh engine in every child
    would compile everything again on each try. None if the database is not
    reachable now (children then build their own).
    """
    from flowctl.db.store import Store

    try:
        store = Store.from_settings(settings)
        now = datetime.now(timezone.utc)
        store.warm_runtime_statements(now)
        store.heartbeat_task(WARMUP_KEY, now, try_number=0)
        store.xcom_pull(WARMUP_KEY.run_key, WARMUP_KEY.task_id)
        store.engine.dispose()
        return store
    except Exception:  # noqa: BLE001 - warming is an optimisation only
        return None


def main(argv: list[str]) -> None:
    """Entry point: ``python -m flowctl.task_runner.zygote EVENT_FD``."""
    event_fd = int(argv[0])
    settings = Settings.load()
    _warm_imports()
    spares = min(MAX_SPARES, int(settings.get("core", "parallelism")))
    Zygote(settings, event_fd, _warm_store(settings), spares).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
