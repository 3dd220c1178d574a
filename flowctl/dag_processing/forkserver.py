"""A warm parsing slot: a long-lived process that forks one child per DAG file.

``python -m flowctl.dag_processing.forkserver`` imports flowctl once, then
reads requests from stdin, one JSON object per line
(``{"path": ..., "timeout": ..., "dags_folder": ...}``), and answers each with
one JSON line on stdout (``{"path", "dags", "error", "duration"}``). For each
request it forks a child that imports the file and writes the serialized DAGs
back through a pipe; the child's own stdout and stderr go to another pipe
whose tail is kept for error messages. A child that runs past its timeout is
killed with its whole process group; one that raises, exits or crashes
becomes an error answer. The slot itself never runs user code, so a bad file
cannot take it down. Forking a warm process costs a few milliseconds where a
fresh interpreter costs 50-100, which is what makes a 1,000-file folder parse
in seconds.

POSIX only. Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

OUTPUT_TAIL_BYTES = 8000

# Imported once by the slot so that each forked child starts warm.
WARM_MODULES = (
    "flowctl.core.dag", "flowctl.core.baseoperator", "flowctl.core.taskgroup", "flowctl.core.mapping",
    "flowctl.core.params", "flowctl.core.timetables", "flowctl.operators.bash", "flowctl.operators.python",
    "flowctl.operators.empty", "flowctl.decorators", "flowctl.sensors", "flowctl.models",
    "flowctl.dag_processing.serialization", "pendulum", "croniter",
)


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """What one forked child produced: its result bytes, output tail, and how it ended."""

    result: bytes
    output_tail: bytes
    status: int | None  # os.waitpid status; None when it was killed on timeout


def warm_up() -> None:
    """Import what DAG files usually import, ignoring modules that do not exist yet."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs speed
            pass


def child_main(path: Path, dags_folder: Path | None, result_fd: int, output_fd: int) -> None:
    """Body of the forked child: import, serialize, write the JSON, then ``os._exit``."""
    import faulthandler

    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # stdin carries the slot's requests: user code must not read them
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    faulthandler.enable(file=sys.stderr)
    try:
        payload: dict[str, Any] = {"dags": _serialize_file(path, dags_folder)}
    except BaseException as exc:  # noqa: BLE001 - process boundary: every failure becomes a record
        payload = {"error": _format_error(exc, path)}
    data = json.dumps(payload).encode("utf-8")
    _write_all(result_fd, data)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _format_error(exc: BaseException, path: Path) -> str:
    try:
        from flowctl.dag_processing.loader import format_import_error

        return format_import_error(exc, path)
    except BaseException:  # noqa: BLE001 - never lose the error while describing it
        return traceback.format_exc()


def _serialize_file(path: Path, dags_folder: Path | None) -> list[dict[str, Any]]:
    from flowctl.dag_processing.loader import add_to_sys_path, load_dags_from_file
    from flowctl.dag_processing.serialization import serialize_dag

    if dags_folder is not None:
        add_to_sys_path(dags_folder)
    add_to_sys_path(path.parent)
    return [serialize_dag(dag) for dag in load_dags_from_file(path)]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def run_child(path: Path, dags_folder: Path | None, timeout: float) -> ChildOutcome:
    """Fork a child for one file and collect what it produced, killing it at the deadline."""
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(result_r)
        os.close(output_r)
        child_main(path, dags_folder, result_w, output_w)
    os.close(result_w)
    os.close(output_w)
    try:
        result, tail, finished = _collect(result_r, output_r, time.monotonic() + timeout)
    finally:
        os.close(result_r)
        os.close(output_r)
    status = _reap(pid, finished)
    return ChildOutcome(result=result, output_tail=tail, status=status)


def _collect(result_r: int, output_r: int, deadline: float) -> tuple[bytes, bytes, bool]:
    """Read both pipes until both close (True) or the deadline passes (False)."""
    result = bytearray()
    tail = bytearray()
    open_fds = {result_r, output_r}
    with selectors.DefaultSelector() as sel:
        for fd in open_fds:
            sel.register(fd, selectors.EVENT_READ)
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(result), bytes(tail), False
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
                elif key.fd == result_r:
                    result += chunk
                else:
                    tail = (tail + chunk)[-OUTPUT_TAIL_BYTES:]
    return bytes(result), bytes(tail), True


def _reap(pid: int, finished: bool) -> int | None:
    """Wait for the child; kill its process group first when it ran out of time."""
    if not finished:
        _kill_group(pid)
        os.waitpid(pid, 0)
        return None
    _, status = os.waitpid(pid, 0)
    _kill_group(pid)  # grandchildren left behind by the file
    return status


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def describe_failure(outcome: ChildOutcome, timeout: float) -> str | None:
    """The import error of an outcome, or None when the child answered with DAGs."""
    tail = outcome.output_tail.decode("utf-8", errors="replace").strip()
    suffix = f"\n--- output of the import ---\n{tail}" if tail else ""
    if outcome.status is None:
        return f"DAG file import timed out after {timeout:g}s (dagbag_import_timeout); the process was killed"
    if os.WIFSIGNALED(outcome.status):
        sig = signal.Signals(os.WTERMSIG(outcome.status)).name
        return f"the process importing the DAG file was killed by signal {sig}{suffix}"
    if not outcome.result:
        code = os.WEXITSTATUS(outcome.status)
        return f"the process importing the DAG file exited with code {code} before it finished{suffix}"
    return None


def handle_request(request: dict[str, Any]) -> dict[str, Any]:
    """Parse the file of one request in a child; the answer always has every key."""
    path = Path(request["path"])
    timeout = float(request.get("timeout") or 30.0)
    folder = Path(request["dags_folder"]) if request.get("dags_folder") else None
    started = time.monotonic()
    outcome = run_child(path, folder, timeout)
    answer: dict[str, Any] = {"path": str(path), "dags": [], "error": describe_failure(outcome, timeout)}
    if answer["error"] is None:
        try:
            payload = json.loads(outcome.result)
        except ValueError:
            payload = {"error": "the process importing the DAG file sent an unreadable answer"}
        answer["dags"] = payload.get("dags", [])
        answer["error"] = payload.get("error")
    answer["duration"] = time.monotonic() - started
    return answer


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until stdin closes."""
    for line in requests:
        if not line.strip():
            continue
        answer = handle_request(json.loads(line))
        answers.write(json.dumps(answer).encode("utf-8") + b"\n")
        answers.flush()


def main() -> None:
    """Entry point: keep the protocol stream private, send stray prints to stderr, serve."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the slot ends
    warm_up()
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
