"""Parse many DAG files safely: a pool of warm forkserver slots, one child per file.

This is how the scheduler and the ``flowctl dags`` commands read a DAG folder:
user code never runs in the calling process. ``[scheduler]
parsing_processes`` slots (``python -m flowctl.dag_processing.forkserver``)
each fork a child per file, with ``[core] dagbag_import_timeout`` per file and
``[core] default_timezone`` as the zone of naive dates in the files. A
file that raises, loops, exits or crashes becomes an entry of
``ParseResult.import_errors``; every other file still loads. A ``dag_id``
already defined by an earlier file (in sorted path order) is an import error
of the later file.

Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from flowctl.dag_processing.discovery import keep_likely_dag_files, list_py_files
from flowctl.settings import Settings

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
DEFAULT_FILES_PER_CHILD = 32


@dataclass(frozen=True, slots=True)
class SerializedDagRecord:
    """One DAG as JSON, the file it came from, and the hash of its canonical JSON."""

    dag_id: str
    fileloc: str
    data: dict[str, Any]
    dag_hash: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a parse of some files produced: DAGs, import errors by path, seconds by path."""

    dags: list[SerializedDagRecord] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)

    def dags_of_file(self, path: str) -> list[SerializedDagRecord]:
        """The DAGs that ``path`` defined."""
        return [d for d in self.dags if d.fileloc == path]


class _PoolClosed(Exception):
    """The pool was closed while a file was being parsed: the parse stops, that file unanswered."""


class _Slot:
    """One forkserver process and the pipes to talk to it."""

    def __init__(self, files_per_child: int, default_timezone: str) -> None:
        self._files_per_child = files_per_child
        self._default_timezone = default_timezone
        self._closed = False
        self._proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            [sys.executable, "-m", "flowctl.dag_processing.forkserver", str(self._files_per_child),
             self._default_timezone],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its answer; a dead slot is replaced and asked once more.

        User code never runs in the slot itself, so a slot that died (killed from outside,
        out of memory) is not the file's fault: the file gets an error only if it happens twice.
        """
        for _ in range(2):
            line = self._exchange(request)
            if line:
                return json.loads(line)
            if self._closed:  # closed under us (the scheduler stops): no new slot for the file
                raise _PoolClosed(request["path"])
            self._stop()
            self._proc = self._spawn()
        return {"path": request["path"], "result": None, "duration": 0.0,
                "error": "the parsing process died twice while parsing this file"}

    def _exchange(self, request: dict[str, Any]) -> bytes:
        stdin: IO[bytes] = self._proc.stdin  # type: ignore[assignment]
        stdout: IO[bytes] = self._proc.stdout  # type: ignore[assignment]
        try:
            stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            stdin.flush()
            return stdout.readline()
        except (BrokenPipeError, OSError, ValueError):
            return b""

    def close(self) -> None:
        """Stop the slot for good: a parse waiting on it ends (its file unanswered) instead of a new slot."""
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        """Close stdin (the slot then exits) and wait for it."""
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()


class DagFileProcessor:
    """A reusable pool of warm parsing slots; use as a context manager or call ``close``.

    ``files_per_child``: how many files one forked parser child imports before a
    fresh one replaces it (1 = a fresh child per file). A crash or timeout always
    replaces the child, and only the file being parsed gets the import error.
    ``default_timezone``: the zone of naive dates in the files (``[core] default_timezone``).
    """

    def __init__(self, processes: int, timeout: float, dags_folder: Path | None = None,
                 files_per_child: int = DEFAULT_FILES_PER_CHILD, default_timezone: str = "utc") -> None:
        self.timeout = timeout
        self.dags_folder = dags_folder
        self._slots = [_Slot(files_per_child, default_timezone) for _ in range(max(1, processes))]

    @classmethod
    def from_settings(cls, settings: Settings, at_most: int | None = None) -> DagFileProcessor:
        """A pool sized by ``[scheduler] parsing_processes`` (``at_most``: no more processes than that,
        e.g. the files to parse) with ``[core] dagbag_import_timeout`` and ``default_timezone``."""
        processes = int(settings.get("scheduler", "parsing_processes"))
        return cls(processes=processes if at_most is None else max(1, min(processes, at_most)),
                   timeout=float(settings.get("core", "dagbag_import_timeout")),
                   dags_folder=settings.dags_folder,
                   files_per_child=int(settings.get("scheduler", "parsing_files_per_child")),
                   default_timezone=settings.default_timezone)

    def __enter__(self) -> DagFileProcessor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop every slot."""
        for slot in self._slots:
            slot.close()

    def parse_files(self, files: list[Path],
                    on_answer: Callable[[dict[str, Any]], None] | None = None) -> ParseResult:
        """Parse ``files`` in parallel; the result lists them in sorted path order. ``on_answer``
        is told each file's answer as it comes (from a parsing thread), for a caller that stores
        the quick files without waiting for a slow one."""
        todo: queue.Queue[Path] = queue.Queue()
        for path in sorted(files):
            todo.put(path)
        answers: list[dict[str, Any]] = []
        threads = [threading.Thread(target=self._drain, args=(slot, todo, answers, on_answer), daemon=True)
                   for slot in self._slots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return collect_answers(sorted(answers, key=lambda a: a["path"]))

    def _drain(self, slot: _Slot, todo: queue.Queue[Path], answers: list[dict[str, Any]],
               on_answer: Callable[[dict[str, Any]], None] | None) -> None:
        folder = str(self.dags_folder) if self.dags_folder else None
        while True:
            try:
                path = todo.get_nowait()
            except queue.Empty:
                return
            request = {"path": str(path), "timeout": self.timeout, "dags_folder": folder}
            try:
                answer = slot.ask(request)
            except _PoolClosed:
                return
            answers.append(answer)
            if on_answer is not None:
                on_answer(answer)


def collect_answers(answers: list[dict[str, Any]]) -> ParseResult:
    """Fold forkserver answers (in path order) into a ParseResult; later duplicates are errors."""
    result = ParseResult()
    seen: dict[str, str] = {}
    for answer in answers:
        path = answer["path"]
        result.durations[path] = float(answer.get("duration") or 0.0)
        error = answer.get("error") or (answer.get("result") or {}).get("error")
        if error:
            result.import_errors[path] = error
            continue
        for item in answer["result"]["dags"]:
            dag_id = item["data"]["dag_id"]
            if dag_id in seen:
                result.import_errors[path] = duplicate_dag_error(dag_id, seen[dag_id])
                continue
            seen[dag_id] = path
            result.dags.append(SerializedDagRecord(dag_id=dag_id, fileloc=path, data=item["data"],
                                                   dag_hash=item["hash"]))
    return result


def duplicate_dag_error(dag_id: str, defined_in: str) -> str:
    """The import error of a file whose ``dag_id`` another file already defines."""
    return (f"DAG id {dag_id!r} is already defined in {defined_in}; "
            "each dag_id must be defined by exactly one file")


def refuse_dags_defined_elsewhere(result: ParseResult, owners: Mapping[str, str]) -> ParseResult:
    """``result`` without the DAGs that an earlier file (sorted path order), not parsed with it, defines.

    ``owners``: dag_id -> the file that defines it now (the stored, active DAGs whose file still
    exists). A file parsed alone (it changed) sees no duplicate in its own parse; without this its
    DAG would replace the earlier file's until both were parsed together again. Such a file gets
    the same import error as in a parse of both; its other DAGs are kept.
    """
    parsed = {dag.fileloc for dag in result.dags} | set(result.import_errors) | set(result.durations)
    taken = {dag.dag_id: owners[dag.dag_id] for dag in result.dags
             if owners.get(dag.dag_id, dag.fileloc) < dag.fileloc and owners[dag.dag_id] not in parsed}
    if not taken:
        return result
    errors = dict(result.import_errors)
    for dag in result.dags:
        if dag.dag_id in taken:
            errors.setdefault(dag.fileloc, duplicate_dag_error(dag.dag_id, taken[dag.dag_id]))
    return ParseResult(dags=[d for d in result.dags if d.dag_id not in taken], import_errors=errors,
                       durations=dict(result.durations))


def find_dag_files(folder: str | Path, settings: Settings) -> list[Path]:
    """The files of ``folder`` to parse, with ``[core] dag_discovery_safe_mode`` applied."""
    files = list_py_files(folder)
    return keep_likely_dag_files(files) if settings.get("core", "dag_discovery_safe_mode") else files


def parse_folder(settings: Settings, folder: str | Path | None = None) -> ParseResult:
    """Parse ``folder`` (default: the configured dags folder) with a temporary pool."""
    root = Path(folder) if folder is not None else settings.dags_folder
    files = find_dag_files(root, settings)
    if not files:
        return ParseResult()
    with DagFileProcessor.from_settings(settings, at_most=len(files)) as processor:  # no idle parser to start
        if root.is_dir():
            processor.dags_folder = root
        return processor.parse_files(files)
