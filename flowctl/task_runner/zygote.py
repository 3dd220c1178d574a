"""The local executor's warm parent: imports flowctl once, then forks one child per task try.

Started by :class:`flowctl.executors.local.LocalExecutor` as
``python -m flowctl.task_runner.zygote EVENT_FD`` with its settings in the
environment. It reads workloads, one JSON object per line, on stdin; for each
it imports the DAG file (cached by path and mtime, so children inherit the
module) and forks. The child starts a new session (its own process group, so
``terminate`` can kill the task and everything it started), resets signal
handlers, runs :func:`run_workload` and ``os._exit``\\ s with 0 when the try
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

from flowctl.executors.base import Workload
from flowctl.executors.local import workload_from_json
from flowctl.settings import Settings


class Zygote:
    """The fork loop; one instance per zygote process."""

    def __init__(self, settings: Settings, event_fd: int, store: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.event_fd = event_fd
        self.children: dict[int, int] = {}  # pid -> request id
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the scheduler, which decides
        buffer = b""
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

    def _start(self, request: dict[str, Any]) -> None:
        workload = workload_from_json(request)
        _preload(workload.fileloc)
        gc.freeze()  # the child's collector then never touches (and copies) the inherited objects
        pid = os.fork()
        if pid == 0:
            self._child(workload)
        self.children[pid] = int(request["id"])
        self._emit({"ev": "started", "id": request["id"], "pid": pid})

    def _child(self, workload: Workload) -> None:
        code = 1
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            for fd in (self.wake_r, self.wake_w, self.event_fd):
                os.close(fd)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
            from flowctl.task_runner.runner import run_workload

            store = self.store
            if store is not None:
                store.engine.dispose(close=False)  # never share the parent's connections
            run_workload(workload, self.settings, store)
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
            if request_id is not None:
                self._emit({"ev": "exited", "id": request_id, "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def _emit(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            written = os.write(self.event_fd, data)
            data = data[written:]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _preload(fileloc: str) -> None:
    """Import the DAG file here so the child inherits it; a failure is the child's to report."""
    from flowctl.task_runner import dagfile

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
        store.warm_runtime_statements(datetime.now(timezone.utc))
        store.engine.dispose()
        return store
    except Exception:  # noqa: BLE001 - warming is an optimisation only
        return None


def main(argv: list[str]) -> None:
    """Entry point: ``python -m flowctl.task_runner.zygote EVENT_FD``."""
    event_fd = int(argv[0])
    settings = Settings.load()
    _warm_imports()
    Zygote(settings, event_fd, _warm_store(settings)).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
