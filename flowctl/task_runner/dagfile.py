"""Finding the real task object for a workload: import its DAG file (cached) and unmap if mapped.

The cache is keyed by the file path and its modification time, so a warm
process (the local executor's zygote) imports a DAG file once and every
forked try inherits the imported module; a changed file is imported again,
and so is every file once a helper module that one of them imported from the
dags folder (or its own folder) changed.
Runs user code (the DAG file's top level), under ``[core] dagbag_import_timeout``
(:data:`IMPORT_TIMEOUT`, set by :func:`use_dags_folder`; SIGALRM, on the main
thread, when no other deadline is pending). Must not import web, cli or scheduler.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from flowctl.alarm import deadline
from flowctl.core.errors import DagNotFound, TaskNotFound
from flowctl.dag_processing.loader import (add_to_sys_path, forget_modules, load_dags_from_file, restore_environ,
                                           user_modules_since)

_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
#: Helper modules DAG files imported from the dags folder or their own folder: name -> (file, mtime).
_HELPERS: dict[str, tuple[str, float]] = {}
_DAGS_FOLDER: list[str] = []
#: What each DAG file's import changed in os.environ (None: removed), kept out of this process.
_ENV_CHANGES: dict[str, dict[str, str | None]] = {}
#: Seconds a DAG file's import may take here (0: no limit).
IMPORT_TIMEOUT = 0.0


class DagFileImportTimeout(BaseException):
    """A DAG file's import ran past ``dagbag_import_timeout`` (BaseException: user code's
    ``except Exception`` must not swallow it)."""


def load_file(fileloc: str) -> dict[str, Any]:
    """The DAGs (by dag_id) of ``fileloc``, imported once per modification time (of the file and of
    the helper modules that DAG files imported from their folders)."""
    key = _key(fileloc)
    mtime = os.stat(key).st_mtime
    if _HELPERS:
        forget_changed_helpers()
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    path = Path(key)
    add_to_sys_path(path.parent)
    pending = signal.getitimer(signal.ITIMER_REAL)[0] > 0  # inside another deadline: that one holds
    message = f"DAG file {key} import timed out after {IMPORT_TIMEOUT:g}s (dagbag_import_timeout)"
    before, environ = set(sys.modules), dict(os.environ)
    try:
        with deadline(0 if pending else IMPORT_TIMEOUT, lambda: DagFileImportTimeout(message)):
            dags = {dag.dag_id: dag for dag in load_dags_from_file(path)}
    finally:
        _remember_helpers(user_modules_since(before, [*_DAGS_FOLDER, str(path.parent)]))
        _ENV_CHANGES[key] = restore_environ(environ)
    _CACHE[key] = (mtime, dags)
    return dags


def use_environment_of(fileloc: str) -> None:
    """In a try: the environment variables that its DAG file's import set (or removed), which
    :func:`load_file` took back out of this process, so that the warm zygote's other tries never
    see them: in Airflow a try's process imports its own DAG file only."""
    for name, value in _ENV_CHANGES.get(_key(fileloc), {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _remember_helpers(modules: dict[str, str]) -> None:
    for name, file in modules.items():
        try:
            _HELPERS[name] = (file, os.stat(file).st_mtime)
        except OSError:
            sys.modules.pop(name, None)


def _helpers_changed() -> bool:
    for file, mtime in _HELPERS.values():
        try:
            if os.stat(file).st_mtime != mtime:
                return True
        except OSError:
            return True
    return False


def forget_changed_helpers() -> bool:
    """If a helper module changed since it was imported: forget every helper module and every
    imported DAG file (any of them may hold the old code), so they are imported again. Returns
    whether it did."""
    if not _helpers_changed():
        return False
    forget_modules(list(_HELPERS))
    _HELPERS.clear()
    _CACHE.clear()
    return True


def imported(fileloc: str) -> bool:
    """Whether this process holds ``fileloc``'s DAGs as the file is now (no import is tried)."""
    key = _key(fileloc)
    cached = _CACHE.get(key)
    try:
        return cached is not None and cached[0] == os.stat(key).st_mtime and not _helpers_changed()
    except OSError:
        return False


def use_dags_folder(folder: Path, import_timeout: float | None = None) -> None:
    """Put the dags folder on sys.path, as Airflow does in every process that imports DAG files:
    a DAG file in a subfolder may import a package from the folder's root (``from common import x``).
    Each file's own folder is added when it is imported (:func:`load_file`). ``import_timeout``:
    :data:`IMPORT_TIMEOUT` from now on (this process and its forks)."""
    global IMPORT_TIMEOUT
    add_to_sys_path(folder)
    _DAGS_FOLDER[:] = [str(folder)]
    if import_timeout is not None:
        IMPORT_TIMEOUT = import_timeout


def _key(fileloc: str) -> str:
    """The cache key of a file: its absolute path, as text (no pathlib: a forked try looks its
    file up here, and pays for the code it runs in copied pages)."""
    return fileloc if os.path.isabs(fileloc) else os.path.join(os.getcwd(), fileloc)


def load_dag(fileloc: str, dag_id: str) -> Any:
    """The DAG ``dag_id`` defined by ``fileloc``; DagNotFound names both."""
    dags = load_file(fileloc)
    if dag_id not in dags:
        raise DagNotFound(f"DAG {dag_id!r} not found in {fileloc} (it defines: {', '.join(sorted(dags)) or 'none'})")
    return dags[dag_id]


def get_task(dag: Any, task_id: str) -> Any:
    """``dag``'s task ``task_id``; TaskNotFound names both."""
    if not dag.has_task(task_id):
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag.dag_id!r}")
    return dag.get_task(task_id)


def forget(fileloc: str | None = None) -> None:
    """Drop one file (or every file) from the cache."""
    if fileloc is None:
        _CACHE.clear()
    else:
        _CACHE.pop(_key(fileloc), None)
