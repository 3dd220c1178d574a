"""Import one DAG file in the current process and find the DAGs it defines.

Used by the in-process :class:`~flowctl.dag_processing.dagbag.DagBag` and by
the isolated child processes of the forkserver. Runs user code: callers
decide the isolation (a child process, a SIGALRM timeout). A DAG is found if
it is a module-level global, or if it was registered by its constructor while
the module was imported (``with DAG(...)`` / ``@dag`` in a function). Every
DAG found gets ``fileloc`` set to the imported file, like Airflow.

Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any

_INSTALLED = tuple(os.path.join(p, "") for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
_PACKAGE_DIRS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
#: How the module of every DAG file is named: no other process can import such a module by name.
DAG_FILE_MODULE_PREFIX = "flowctl_dagfile_"


def module_name_for(path: Path) -> str:
    """A unique, stable module name for a DAG file (two folders may hold ``etl.py``)."""
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"{DAG_FILE_MODULE_PREFIX}{digest}_{stem}"


def import_file(path: Path) -> ModuleType:
    """Execute ``path`` as a fresh module registered in ``sys.modules``; errors propagate."""
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _dag_class() -> type:
    from flowctl.core.dag import DAG

    return DAG


def _registered_dags() -> list[Any]:
    """Take (and clear) the DAGs whose ``with`` block closed: ``DagContext.autoregistered``."""
    from flowctl.core.dag import DagContext

    taken = list(DagContext.autoregistered)
    DagContext.autoregistered.clear()
    return taken


def dags_in_module(module: ModuleType, path: Path) -> list[Any]:
    """The distinct DAG objects of ``module`` (globals first), with ``fileloc`` set to ``path``."""
    dag_class = _dag_class()
    found: dict[int, Any] = {}
    for value in list(vars(module).values()):
        if isinstance(value, dag_class):
            found.setdefault(id(value), value)
    for value in _registered_dags():
        if isinstance(value, dag_class):
            found.setdefault(id(value), value)
    dags = list(found.values())
    for dag in dags:
        validate = getattr(dag, "validate", None)
        if callable(validate):
            validate()  # a cycle or a bad timetable is an import error of the file
        try:
            dag.fileloc = str(path)
        except AttributeError:
            pass
    return dags


def load_dags_from_file(path: Path) -> list[Any]:
    """Import ``path`` and return its DAGs; any error in user code propagates."""
    if path.suffix == ".zip":
        from flowctl.core.errors import NotSupportedError

        raise NotSupportedError(
            f"packaged DAGs (.zip files) are not supported: flowctl imports .py files only; unzip "
            f"{path.name} into the dags folder (a subfolder works: its files can import one another)")
    _registered_dags()  # drop leftovers from earlier, unrelated imports
    module = import_file(path)
    return dags_in_module(module, path)


def add_to_sys_path(folder: Path) -> None:
    """Let DAG files import helper modules that sit in the DAG folder (as in Airflow)."""
    text = str(folder)
    if folder.is_dir() and text not in sys.path:
        sys.path.append(text)


def user_modules_since(before: Collection[str], folders: Collection[str]) -> dict[str, str]:
    """Modules imported since ``before`` (the names ``sys.modules`` held then) from a file under one
    of ``folders`` (the dags folder, a DAG file's folder): name -> file. These are the DAG files'
    helper modules, which a warm process must import again once they change, as Airflow's fresh
    process per parse or task does; the DAG files' own modules (:func:`module_name_for`) are not."""
    roots = tuple(os.path.join(str(folder), "") for folder in folders)
    found: dict[str, str] = {}
    for name in set(sys.modules).difference(before):
        file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(file, str) and file.startswith(roots) and _is_user_source(name, file):
            found[name] = file
    return found


def _is_user_source(name: str, file: str) -> bool:
    """Plain source outside any installation: a folder may hold a virtualenv, whose packages
    (extension modules above all) must never be imported twice."""
    return (file.endswith(".py") and not name.startswith(DAG_FILE_MODULE_PREFIX)
            and not file.startswith(_INSTALLED) and not any(part in file for part in _PACKAGE_DIRS))


def restore_environ(before: dict[str, str]) -> dict[str, str | None]:
    """Put ``os.environ`` back as it was ``before`` a DAG file's import (a warm process imports many
    files: one file's variables must not reach the next file or another DAG's tries); returns what
    the import changed (None: removed)."""
    changes: dict[str, str | None] = {k: v for k, v in os.environ.items() if before.get(k) != v}
    changes.update((k, None) for k in before if k not in os.environ)
    for name in changes:
        if name in before:
            os.environ[name] = before[name]
        else:
            os.environ.pop(name, None)
    return changes


def forget_modules(names: Collection[str]) -> None:
    """Drop ``names`` from ``sys.modules``: the next import runs their files again."""
    for name in names:
        sys.modules.pop(name, None)


def format_import_error(exc: BaseException, path: Path) -> str:
    """The traceback of a failed import, starting at the DAG file's first frame (no flowctl frames)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    if tb is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return "Traceback (most recent call last):\n" + "".join(
        traceback.format_tb(tb) + traceback.format_exception_only(type(exc), exc))
