"""``DagBag``: the Airflow-compatible, in-process collection of a folder's DAGs.

What users' DAG tests call (``DagBag()``, ``.dags``, ``.import_errors``,
``.get_dag(dag_id)``). Files are imported in THIS process, so the DAGs are the
real objects with their callables. Each file gets ``[core]
dagbag_import_timeout`` seconds (SIGALRM, only on the main thread; elsewhere
there is no timeout) and any exception it raises becomes its import error —
but a file that segfaults or calls ``os._exit`` ends this process. The
scheduler and the ``flowctl dags`` commands never use this class: they parse
with :mod:`flowctl.dag_processing.processor`, one child process per file.

Before importing, the bag makes its settings' ``[core] default_timezone`` the
zone of naive dates in this process (:func:`flowctl.core.timezones.use_default_timezone`),
as every flowctl process that imports DAG files does.

``read_dags_from_db=True`` gives the safe variant: the folder is parsed by
the subprocess processor and ``.dags`` holds deserialized (read-only) DAGs.

Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowctl.alarm import deadline
from flowctl.core.timezones import use_default_timezone
from flowctl.dag_processing.discovery import keep_likely_dag_files, list_py_files
from flowctl.dag_processing.loader import add_to_sys_path, format_import_error, load_dags_from_file
from flowctl.settings import Settings

EXAMPLES_FOLDER = Path(__file__).resolve().parents[2] / "dags_example"


@dataclass(frozen=True, slots=True)
class FileLoadStat:
    """How one file loaded (Airflow's ``dagbag_stats`` rows)."""

    file: str
    duration: float
    dag_num: int
    task_num: int
    dags: str


class DagImportTimeout(BaseException):
    """Raised in a DAG file's import when it runs past the timeout (BaseException: user
    code's ``except Exception`` must not swallow it)."""


@contextmanager
def import_timeout(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with DagImportTimeout, on the main thread only."""
    message = f"DAG file import timed out after {seconds:g}s (dagbag_import_timeout)"
    with deadline(seconds, lambda: DagImportTimeout(message)):
        yield


class DagBag:
    """The DAGs of a folder, imported in this process; errors are collected, not raised."""

    def __init__(self, dag_folder: str | Path | None = None, include_examples: bool | None = None,
                 safe_mode: bool | None = None, read_dags_from_db: bool = False,
                 settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self.dag_folder = str(Path(dag_folder) if dag_folder is not None else self.settings.dags_folder)
        self.include_examples = (bool(self.settings.get("core", "load_examples"))
                                 if include_examples is None else include_examples)
        self.safe_mode = (bool(self.settings.get("core", "dag_discovery_safe_mode"))
                          if safe_mode is None else safe_mode)
        self.read_dags_from_db = read_dags_from_db
        self.import_timeout = float(self.settings.get("core", "dagbag_import_timeout"))
        self.dags: dict[str, Any] = {}
        self.import_errors: dict[str, str] = {}
        self.dagbag_stats: list[FileLoadStat] = []
        self._dag_files: dict[str, str] = {}
        folders = [self.dag_folder] + ([str(EXAMPLES_FOLDER)] if self.include_examples else [])
        for folder in folders:
            if read_dags_from_db:
                self._collect_serialized(folder)
            else:
                self.collect_dags(folder)

    @property
    def dag_ids(self) -> list[str]:
        """Every dag_id in the bag."""
        return list(self.dags)

    def size(self) -> int:
        """How many DAGs the bag holds."""
        return len(self.dags)

    def get_dag(self, dag_id: str) -> Any | None:
        """The DAG with this id, or None (as in Airflow)."""
        return self.dags.get(dag_id)

    def collect_dags(self, dag_folder: str | Path | None = None) -> None:
        """Import every DAG file of ``dag_folder`` (default: the bag's folder) into the bag."""
        folder = Path(dag_folder) if dag_folder is not None else Path(self.dag_folder)
        add_to_sys_path(folder)
        use_default_timezone(self.settings.default_timezone)
        files = list_py_files(folder)
        for path in keep_likely_dag_files(files) if self.safe_mode else files:
            self.process_file(str(path))

    def process_file(self, filepath: str) -> list[Any]:
        """Import one file, bag its DAGs and return them; a failure is recorded, not raised."""
        path = Path(filepath).absolute()
        started = time.monotonic()
        try:
            with import_timeout(self.import_timeout):
                dags = load_dags_from_file(path)
        except BaseException as exc:  # noqa: BLE001 - a bad file must not stop the others
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.import_errors[str(path)] = format_import_error(exc, path)
            self._record_stat(path, started, [])
            return []
        bagged = [dag for dag in dags if self._bag(dag, path)]
        self._record_stat(path, started, bagged)
        return bagged

    def bag_dag(self, dag: Any) -> None:
        """Add a DAG built elsewhere (Airflow's ``bag_dag``)."""
        self.dags[dag.dag_id] = dag

    def _bag(self, dag: Any, path: Path) -> bool:
        first = self._dag_files.get(dag.dag_id)
        if first is not None and first != str(path):
            self.import_errors[str(path)] = (f"DAG id {dag.dag_id!r} is already defined in {first}; "
                                             "each dag_id must be defined by exactly one file")
            return False
        self._dag_files[dag.dag_id] = str(path)
        self.import_errors.pop(str(path), None)
        self.dags[dag.dag_id] = dag
        return True

    def _record_stat(self, path: Path, started: float, dags: list[Any]) -> None:
        self.dagbag_stats.append(FileLoadStat(
            file=str(path), duration=time.monotonic() - started, dag_num=len(dags),
            task_num=sum(len(d.tasks) for d in dags), dags=str([d.dag_id for d in dags])))

    def _collect_serialized(self, folder: str) -> None:
        from flowctl.dag_processing.processor import parse_folder
        from flowctl.dag_processing.serialization import deserialize_dag

        result = parse_folder(self.settings.replace(core__dag_discovery_safe_mode=self.safe_mode), folder)
        self.import_errors.update(result.import_errors)
        for record in result.dags:
            if record.dag_id not in self.dags:
                self.dags[record.dag_id] = deserialize_dag(record.data)
                self._dag_files[record.dag_id] = record.fileloc
        for path, seconds in result.durations.items():
            dags = [self.dags[r.dag_id] for r in result.dags_of_file(path)]
            self.dagbag_stats.append(FileLoadStat(
                file=path, duration=seconds, dag_num=len(dags),
                task_num=sum(len(d.tasks) for d in dags), dags=str([d.dag_id for d in dags])))
