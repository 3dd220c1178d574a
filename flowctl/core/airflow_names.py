"""Airflow names that flowctl does not support, or that Airflow 2 keeps only as deprecated paths.

A compatibility module (``flowctl.models``, ``flowctl.decorators``…)
lists its unsupported names, each with the flowctl way, and makes
:func:`module_getattr` its module ``__getattr__``: ``from flowctl.models import
XCom`` then raises :class:`~flowctl.core.errors.NotSupportedImportError` saying
so, instead of a bare ImportError. Names not listed stay an AttributeError
(so ``hasattr`` and ``from … import`` of other names behave as usual).
:func:`warn_deprecated_module` is the DeprecationWarning of an Airflow 1 module
path (``airflow.operators.bash_operator``…) that Airflow 2 still accepts.

Pure: must not import anything outside the standard library and flowctl.core.errors.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from flowctl.core.errors import NotSupportedError, NotSupportedImportError

#: The flowctl way instead of Airflow's ``XCom`` model (queries of the xcom table from DAG code).
XCOM_WAY = (
    "there is no database access from DAG code; inside a task use context['ti'].xcom_pull() and "
    "xcom_push(), and pass values between tasks with task.output or @task return values")
#: The flowctl way instead of SubDagOperator (deprecated in Airflow 2 too).
SUBDAG_WAY = (
    "group the tasks with a TaskGroup (flowctl.utils.task_group, or @task_group from flowctl.decorators) "
    "inside the parent DAG, or start another DAG with TriggerDagRunOperator (flowctl.operators.trigger_dagrun)")
#: The flowctl way instead of the Pool model (database access from DAG code).
POOL_WAY = (
    "there is no database access from DAG code; give tasks pool='name' (and pool_slots=) and create or "
    "resize pools with `flowctl pools set NAME SLOTS DESCRIPTION` or in the web UI")

#: The flowctl way instead of Airflow's SecretsMasker class (a logging filter of Airflow's handlers).
SECRETS_MASKER_WAY = (
    "flowctl masks a task's log itself: call mask_secret(value) to hide a value in it from then on, and "
    "redact(value) for a copy with the secrets known so far replaced by *** (both in flowctl.utils.log.secrets_masker)")
#: The flowctl way instead of Airflow's stdout / stderr redirection helpers.
LOG_STREAMS_WAY = "a task's stdout and stderr are captured into its log already: print(), or log with self.log"
#: The flowctl way instead of remote task-log handlers.
EXTERNAL_LOGS_WAY = (
    "flowctl writes task logs to files under [logging] base_log_folder only (no remote log handlers); ship "
    "them elsewhere with a log collector")
#: The flowctl way instead of Airflow's "argument not given" sentinel.
ARG_NOT_SET_WAY = "use None as the default, or a sentinel object of your own (NOTSET = object())"
#: The flowctl way instead of operator extra links (buttons on a task instance's page).
EXTRA_LINKS_WAY = (
    "the web UI shows no operator extra links; log the address from execute() (it is then in the try's "
    "log), or put it in the DAG's doc_md (shown on the DAG's page)")
#: The flowctl way instead of Airflow 2.10's DagRunTriggeredByType.
TRIGGERED_BY_WAY = "dag_run.run_type (flowctl.utils.types.DagRunType) tells manual, scheduled and backfill runs apart"

#: The flowctl way instead of the SQL operators, sensor and DbApiHook (provider code flowctl does not ship).
SQL_WAY = (
    "flowctl ships no database hooks or SQL operators; in a @task (or PythonOperator) read the connection "
    "with BaseHook.get_connection(conn_id) (flowctl.hooks.base) and query it with the database's own "
    "Python client (conn.host, conn.login, conn.password, conn.schema, or conn.get_uri())")
#: The flowctl way instead of the SQL branch operator.
SQL_BRANCH_WAY = "branch with @task.branch (or BranchPythonOperator) on the result of your own query; " + SQL_WAY
#: The flowctl way instead of SqlSensor.
SQL_SENSOR_WAY = "wait with PythonSensor (or @task.sensor) whose callable runs your own query; " + SQL_WAY
#: The flowctl way instead of Airflow's DagModel (the dag table, from DAG code).
DAG_MODEL_WAY = (
    "there is no database access from DAG code; read or change DAGs with `flowctl dags list`, "
    "`flowctl dags pause` / `unpause`, `flowctl dags details`, or the REST API")
#: The flowctl way instead of Airflow plugins.
PLUGINS_WAY = (
    "flowctl loads no plugins: put operators, hooks and helpers in plain modules of the DAG folder that your "
    "DAG files import, and macros in the DAG's user_defined_macros=; custom timetables are not supported "
    "(use EventsTimetable or CronTriggerTimetable, flowctl.timetables)")


def unsupported_import(module: str, name: str, way: str) -> NotSupportedImportError:
    """The error for ``from module import name``: not supported, and what to do instead."""
    error = NotSupportedImportError(f"{module}.{name} is not supported by flowctl; {way}")
    error.name = name
    return error


def unsupported_call(what: str, way: str) -> NotSupportedError:
    """The error for calling ``what``: not supported, and what to do instead."""
    return NotSupportedError(f"{what} is not supported by flowctl; {way}")


def module_getattr(module: str, ways: Mapping[str, str],
                   lazy: Callable[[str], Any] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__``: ``lazy(name)`` for the names it knows (None: not one of them), the
    NotSupportedImportError of ``ways[name]`` for an unsupported name, AttributeError otherwise."""

    def __getattr__(name: str) -> Any:
        if lazy is not None:
            value = lazy(name)
            if value is not None:
                return value
        if name in ways:
            raise unsupported_import(module, name, ways[name])
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def warn_deprecated_module(old: str, new: str) -> None:
    """Warn, as Airflow 2 does, that module ``old`` is deprecated in favour of ``new``; called from
    that module's top level, the warning points at the line that imported it."""
    warnings.warn(f"{old} is deprecated (as its Airflow counterpart is); import from {new}",
                  DeprecationWarning, stacklevel=3)  # warnings skips the import machinery's frames
