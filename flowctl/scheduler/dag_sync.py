"""Keeping the database's DAGs in step with the DAG folder, without importing user code here.

Every ``[scheduler] dag_dir_list_interval`` seconds the folder is listed;
only new or modified files (by mtime), and files not parsed for ``[scheduler]
min_file_process_interval`` seconds, are parsed, by the dag_processing
processor's child processes. Their DAGs are stored (``sync_dag``; a new DAG
starts paused per ``[core] dags_are_paused_at_creation`` unless it says
otherwise), DAGs a file no longer defines are deactivated, import errors are
recorded, and DAGs whose file vanished are marked inactive. With
``background=True`` (the scheduler daemon's) the parse runs in a thread beside
the scheduling rounds, which go on (and heartbeat) while a slow file takes up
to ``dagbag_import_timeout``; the thread calls ``wake`` when the first file's
answer waits (and when it is done), and the next :meth:`DagSync.scan` stores
every answer come by then, in the caller's thread: a slow file holds back
only itself, not the files parsed beside it.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flowctl.core.errors import DagNotStorableError
from flowctl.dag_processing.processor import collect_answers, find_dag_files, refuse_dags_defined_elsewhere
from flowctl.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredParse:
    """What :func:`store_parse_result` wrote: the files' import errors, and how many DAGs it stored."""

    errors: dict[str, str]
    dags: int


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one folder scan did."""

    parsed: int = 0
    dags: int = 0
    errors: int = 0
    deactivated: int = 0


class DagSync:
    """Folder -> database, changed files only."""

    def __init__(self, settings: Settings, store: Any, processor: Any, folder: Path | None = None,
                 background: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.processor = processor
        self.folder = folder or settings.dags_folder
        self.background = background
        self._mtimes: dict[str, float] = {}
        self._parsed_at: dict[str, datetime] = {}
        self._first = True
        #: Told (serialized id, data) of each DAG version a scan stored: the scheduler builds its task graph.
        self.on_version: Callable[[int, Mapping[str, Any]], None] | None = None
        #: Called from the parsing thread when a background parse is done (the scheduler's wake-up).
        self.wake: Callable[[], None] | None = None
        self._parsing: threading.Thread | None = None
        # The background parse's answers not stored yet (each file's as it comes, so that a slow file
        # holds back only itself), and the files of a parse that broke off without answering.
        self._lock = threading.Lock()
        self._answers: list[dict[str, Any]] = []
        self._unanswered: list[Path] = []
        self._stored_paths: set[str] = set()  # of the running parse's files

    @property
    def results_waiting(self) -> bool:
        """Whether files parsed in the background wait for :meth:`scan` to store them."""
        return bool(self._answers or self._unanswered)

    def scan(self, now: datetime, start: bool = True) -> SyncReport:
        """Store a finished background parse; then (``start``, and none running) list the folder and
        parse the changed files: here, or in the background."""
        report = self._store_parsed(now)
        if not start or self._parsing is not None:
            return report
        files = find_dag_files(self.folder, self.settings) if Path(self.folder).exists() else []
        current = {}
        for path in files:
            try:
                current[str(path)] = os.stat(path).st_mtime
            except FileNotFoundError:
                continue
        stale_before = now - timedelta(seconds=float(self.settings.get("scheduler", "min_file_process_interval")))
        changed = [Path(p) for p, m in current.items()
                   if self._mtimes.get(p) != m or self._parsed_at.get(p, stale_before) <= stale_before]
        vanished = set(self._mtimes) - set(current)
        if self.processor.dags_folder is None and Path(self.folder).is_dir():
            self.processor.dags_folder = Path(self.folder)
        if changed and self.background:
            self._begin(changed)
        elif changed:
            report = self._store(changed, self.processor.parse_files(changed), now)
        self._parsed_at.update((str(p), now) for p in changed)
        deactivated = 0
        if vanished or self._first:
            deactivated = self.store.mark_dags_inactive(list(current))
        self._mtimes = current
        self._first = False
        return SyncReport(report.parsed, report.dags, report.errors, deactivated)

    def _begin(self, files: list[Path]) -> None:
        def take(answer: dict[str, Any]) -> None:
            with self._lock:
                first = not self._answers
                self._answers.append(answer)
            if first and self.wake is not None:  # the loop's next round stores all that came by then
                self.wake()

        def parse() -> None:
            try:
                self.processor.parse_files(files, on_answer=take)
            except Exception:  # noqa: BLE001 - the processor closed under it (shutdown): parsed again next time
                log.exception("parsing %d DAG file(s) failed", len(files))
                with self._lock:
                    answered = {a["path"] for a in self._answers} | self._stored_paths
                    self._unanswered = [p for p in files if str(p) not in answered]
            self._parsing = None
            if self.wake is not None:
                self.wake()
        self._stored_paths = set()
        self._parsing = threading.Thread(target=parse, name="flowctl-dag-parse", daemon=True)
        self._parsing.start()

    def _store_parsed(self, now: datetime) -> SyncReport:
        with self._lock:
            answers, self._answers = self._answers, []
            unanswered, self._unanswered = self._unanswered, []
            self._stored_paths.update(a["path"] for a in answers)
        for path in unanswered:
            self._mtimes.pop(str(path), None)  # parsed again at the next scan
        if not answers:
            return SyncReport()
        answers.sort(key=lambda a: a["path"])
        return self._store([Path(a["path"]) for a in answers], collect_answers(answers), now)

    def _store(self, files: list[Path], result: Any, now: datetime) -> SyncReport:
        errors = store_parse_result(self.store, self.settings, [str(p) for p in files], result, now,
                                    self.on_version).errors
        for path, error in errors.items():
            log.warning("import error in %s: %s", path, error.strip().splitlines()[-1] if error.strip() else "")
        return SyncReport(parsed=len(files), dags=len(result.dags), errors=len(errors))


def store_parse_result(store: Any, settings: Settings, files: list[str], result: Any, now: datetime,
                       on_version: Callable[[int, Mapping[str, Any]], None] | None = None) -> StoredParse:
    """Write the parse of ``files`` (a dag_processing ParseResult): each DAG's row and serialized
    version (a new version only if it changed; a new DAG paused per ``[core]
    dags_are_paused_at_creation``), DAGs a file no longer defines deactivated, the files' import
    errors (a DAG the database refuses is one of its file's; its last stored version stays). The
    scheduler's scans and the CLI's own parses (``flowctl/cli/dag_source.py``) both store this way;
    ``on_version`` is told (serialized id, data) of each version stored. Returns the import errors
    and how many DAGs were stored (a DAG refused is an error, not a stored one)."""
    paused_at_creation = bool(settings.get("core", "dags_are_paused_at_creation"))
    if result.dags:
        result = refuse_dags_defined_elsewhere(result, _dag_owners(store, {d.dag_id for d in result.dags}))
    errors = dict(result.import_errors)
    stored = 0
    for dag in result.dags:
        try:
            version = store.sync_dag(dag.data, dag.fileloc, now, paused_at_creation=paused_at_creation)
        except DagNotStorableError as exc:  # the file's error (its last stored version stays), not the scheduler's end
            errors[dag.fileloc] = "\n".join(e for e in (errors.get(dag.fileloc), f"{type(exc).__name__}: {exc}") if e)
            continue
        stored += 1
        if on_version is not None:
            on_version(version.id, version.data)
    for path in files:
        store.deactivate_dags_missing_from(path, [d.dag_id for d in result.dags_of_file(path)])
    store.record_import_errors(files, errors, now)
    return StoredParse(errors=errors, dags=stored)


def _dag_owners(store: Any, dag_ids: set[str]) -> dict[str, str]:
    """dag_id -> the file of each active DAG of ``dag_ids`` whose file still exists."""
    return {dag.dag_id: dag.fileloc for dag in store.list_dags(is_active=True)
            if dag.dag_id in dag_ids and dag.fileloc and os.path.isfile(dag.fileloc)}
