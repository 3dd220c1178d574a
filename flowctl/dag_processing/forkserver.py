"""A warm parsing slot: a long-lived process whose forked children import DAG files.

``python -m flowctl.dag_processing.forkserver [FILES_PER_CHILD [DEFAULT_TIMEZONE]]``
takes ``DEFAULT_TIMEZONE`` (``[core] default_timezone`` of the parent's settings,
UTC when absent) as the zone of naive dates in the DAG files its children import,
imports flowctl once (and parses a tiny DAG to fill lazy caches), then reads requests
from stdin, one JSON object per line (``{"path", "timeout", "dags_folder"}``),
and answers each with one JSON line on stdout:
``{"path", "duration", "error", "result": {"dags": [{"data", "hash"}], "error"}}``.

The slot never runs user code. It forks a *parser child* from its warm state
and hands it files one at a time through a pipe; the child imports the file,
serializes its DAGs and writes a length-prefixed JSON frame back. Its stdout
and stderr go to a third pipe whose tail is kept for error messages. A child
that passes a file's timeout is killed with its whole process group; one that
crashes (segfault, ``os._exit``) is reaped; either way the file gets an error
answer and a fresh child is forked for the next file. A child also retires
after ``FILES_PER_CHILD`` files, which bounds how much state files parsed by
the same child can share (1 = a fresh child per file: full isolation, but a
fork costs ~10 ms on a small VM where parsing a typical file costs ~2 ms).

POSIX only. Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

OUTPUT_TAIL_BYTES = 8000
_PROTOCOL_FDS: list[int] = []  # the slot's own stdin/answer descriptors, closed in every child
_HEADER = struct.Struct("!Q")

# Imported once by the slot so that each forked child starts warm.
WARM_MODULES = (
    "flowctl.core.dag", "flowctl.core.baseoperator", "flowctl.core.taskgroup", "flowctl.core.mapping",
    "flowctl.core.params", "flowctl.core.timetables", "flowctl.operators.bash", "flowctl.operators.python",
    "flowctl.operators.empty", "flowctl.decorators", "flowctl.sensors", "flowctl.sensors.python",
    "flowctl.models", "flowctl.utils.task_group", "flowctl.utils.trigger_rule",
    "flowctl.dag_processing.serialization", "pendulum", "croniter",
)
_WARM_DAG = """
from datetime import datetime, timedelta
from flowctl.core.dag import DAG
from flowctl.operators.empty import EmptyOperator
with DAG("flowctl_warm_up", schedule="@daily", start_date=datetime(2024, 1, 1),
         default_args={"retry_delay": timedelta(minutes=1)}) as dag:
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def warm_up() -> None:
    """Import what DAG files usually import and serialize a tiny DAG (fills lazy caches)."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs speed
            pass
    try:
        from flowctl.dag_processing.serialization import serialize_dag

        namespace: dict[str, Any] = {}
        exec(compile(_WARM_DAG, "<warm-up>", "exec"), namespace)  # noqa: S102 - our own constant text
        serialize_dag(namespace["dag"])
    except Exception:  # noqa: BLE001 - warming up is best effort
        pass


# --- inside the parser child --------------------------------------------------------------

def _format_error(exc: BaseException, path: Path) -> str:
    try:
        from flowctl.dag_processing.loader import format_import_error

        return format_import_error(exc, path)
    except BaseException:  # noqa: BLE001 - never lose the error while describing it
        return traceback.format_exc()


def parse_one(path: Path, dags_folder: Path | None) -> dict[str, Any]:
    """Import one file and serialize its DAGs; every failure becomes ``{"error": ...}``."""
    from flowctl.dag_processing.loader import (add_to_sys_path, forget_modules, load_dags_from_file,
                                               restore_environ, user_modules_since)
    from flowctl.dag_processing.serialization import dag_hash, serialize_dag

    before, environ = set(sys.modules), dict(os.environ)
    try:
        if dags_folder is not None:
            add_to_sys_path(dags_folder)
        add_to_sys_path(path.parent)
        dags = [serialize_dag(dag) for dag in load_dags_from_file(path)]
        return {"dags": [{"data": data, "hash": dag_hash(data)} for data in dags], "error": None}
    except BaseException as exc:  # noqa: BLE001 - process boundary: every failure becomes a record
        return {"dags": [], "error": _format_error(exc, path)}
    finally:  # the next file (or this one, edited) imports its helpers as they are then, in our environment
        forget_modules(user_modules_since(before, [f for f in (dags_folder, path.parent) if f is not None]))
        restore_environ(environ)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def child_main(request_fd: int, result_fd: int, output_fd: int) -> None:
    """Body of a parser child: answer requests from ``request_fd`` until it closes."""
    import faulthandler
    import gc

    os.setpgid(0, 0)
    for fd in _PROTOCOL_FDS:
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the slot's stdin carries its requests: user code must not read them
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    faulthandler.enable(file=sys.stderr)
    gc.freeze()  # the warm objects stay shared with the slot instead of being copied by the GC
    with os.fdopen(request_fd, "rb") as requests:
        for line in requests:
            request = json.loads(line)
            folder = Path(request["dags_folder"]) if request.get("dags_folder") else None
            frame = json.dumps(parse_one(Path(request["path"]), folder)).encode("utf-8")
            sys.stdout.flush()
            sys.stderr.flush()
            _write_all(result_fd, _HEADER.pack(len(frame)) + frame)
    os._exit(0)


# --- inside the slot ---------------------------------------------------------------------

class ParserChild:
    """The slot's handle on one forked parser child and its three pipes."""

    def __init__(self) -> None:
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            for fd in (request_w, result_r, output_r):
                os.close(fd)
            try:
                child_main(request_r, result_w, output_w)
            finally:
                os._exit(70)
        for fd in (request_r, result_w, output_w):
            os.close(fd)
        try:
            os.setpgid(pid, pid)  # also here, so a kill right after the fork reaches the group
        except OSError:
            pass
        self.pid = pid
        self.request_w = request_w
        self.result_r = result_r
        self.output_r = output_r
        self.files_done = 0
        self.buffer = bytearray()

    def ask(self, request: dict[str, Any], timeout: float) -> tuple[bytes | None, bytes, str | None]:
        """Send one file; returns (frame, output tail, failure). A failure means the child is gone."""
        try:
            _write_all(self.request_w, json.dumps(request).encode("utf-8") + b"\n")
        except BrokenPipeError:
            pass  # it died already: _read_frame sees the closed pipe and reaps it
        frame, tail, ended = self._read_frame(time.monotonic() + timeout)
        if frame is not None:
            self.files_done += 1
            return frame, tail, None
        return None, tail, self._finish(ended, timeout)

    def _read_frame(self, deadline: float) -> tuple[bytes | None, bytes, bool]:
        """Read until one whole frame, the result pipe closing (ended=True), or the deadline.

        After the result pipe closes, the output pipe is drained briefly so a crash's
        faulthandler traceback is part of the tail.
        """
        tail = bytearray()
        ended = False
        with selectors.DefaultSelector() as sel:
            sel.register(self.result_r, selectors.EVENT_READ)
            sel.register(self.output_r, selectors.EVENT_READ)
            while sel.get_map():
                frame = self._take_frame()
                if frame is not None:
                    return frame, bytes(tail), False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                        if key.fd == self.result_r:
                            ended = True
                            deadline = min(deadline, time.monotonic() + 1.0)
                    elif key.fd == self.output_r:
                        tail = (tail + chunk)[-OUTPUT_TAIL_BYTES:]
                    else:
                        self.buffer += chunk
        return self._take_frame(), bytes(tail), ended

    def _take_frame(self) -> bytes | None:
        if len(self.buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self.buffer)
        if len(self.buffer) < _HEADER.size + size:
            return None
        frame = bytes(self.buffer[_HEADER.size:_HEADER.size + size])
        del self.buffer[:_HEADER.size + size]
        return frame

    def _finish(self, ended: bool, timeout: float) -> str:
        """Reap a child that crashed (ended) or kill one that ran out of time; describe why."""
        if not ended:
            self._kill_group()
            os.waitpid(self.pid, 0)
            self._close_fds()
            return f"DAG file import timed out after {timeout:g}s (dagbag_import_timeout); the process was killed"
        _, status = os.waitpid(self.pid, 0)
        self._kill_group()
        self._close_fds()
        if os.WIFSIGNALED(status):
            return f"the process importing the DAG file was killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"the process importing the DAG file exited with code {os.WEXITSTATUS(status)} before it finished"

    def stop(self) -> None:
        """Retire the child: close its request pipe (it exits), reap it."""
        os.close(self.request_w)
        self.request_w = -1
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self._kill_group()
        self._close_fds()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _close_fds(self) -> None:
        for fd in (self.request_w, self.result_r, self.output_r):
            if fd >= 0:
                os.close(fd)
        self.request_w = self.result_r = self.output_r = -1


class Slot:
    """Answers requests with a parser child that is replaced after a failure or N files."""

    def __init__(self, files_per_child: int) -> None:
        self.files_per_child = max(1, files_per_child)
        self.child: ParserChild | None = None

    def handle(self, request: dict[str, Any]) -> bytes:
        """One answer line (bytes, no newline) for one request."""
        started = time.monotonic()
        timeout = float(request.get("timeout") or 30.0)
        if self.child is None:
            self.child = ParserChild()
        frame, tail, failure = self.child.ask(request, timeout)
        if failure is not None:
            self.child = None
        elif self.child.files_done >= self.files_per_child:
            self.child.stop()
            self.child = None
        head = {"path": request["path"], "duration": time.monotonic() - started,
                "error": _with_output(failure, tail) if failure else None}
        body = json.dumps(head).encode("utf-8")
        return body[:-1] + b', "result": ' + (frame or b"null") + b"}"

    def close(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None


_INTERNAL_FRAMES = ("/flowctl/dag_processing/", "<frozen runpy>", "<frozen importlib._bootstrap")


def _with_output(failure: str, tail: bytes) -> str:
    lines = tail.decode("utf-8", errors="replace").strip().splitlines()
    text = "\n".join(line for line in lines if not any(mark in line for mark in _INTERNAL_FRAMES))
    return f"{failure}\n--- output of the import ---\n{text}" if text else failure


def serve(requests: BinaryIO, answers: BinaryIO, files_per_child: int) -> None:
    """Answer requests until stdin closes."""
    slot = Slot(files_per_child)
    try:
        for line in requests:
            if line.strip():
                answers.write(slot.handle(json.loads(line)) + b"\n")
                answers.flush()
    finally:
        slot.close()


def main(argv: list[str]) -> None:
    """Entry point: keep the protocol stream private, send stray prints to stderr, serve."""
    from flowctl.core.timezones import use_default_timezone

    answers = os.fdopen(os.dup(1), "wb")
    _PROTOCOL_FDS.append(answers.fileno())
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the slot ends
    use_default_timezone(argv[1] if len(argv) > 1 else "utc")  # every child inherits it
    warm_up()
    serve(sys.stdin.buffer, answers, int(argv[0]) if argv else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
