"""``DAG.test()`` (Airflow 2.5+): one run of a DAG object, run in this process against the metadata database.

``DAG.test()`` in ``flowctl/core/dag.py`` imports this module inside the method: core does no I/O and
pulls in no layer above it when imported (``tests/test_layers.py``), while a test run needs the
database, the task runner and the run loop. :func:`run_dag_test` does what ``flowctl dags test``
does, with the same rows and the same loop (``flowctl/scheduler/local_run.py``), for this DAG object
rather than a dag_id looked up in the DAG folder:

- the metadata database must be migrated: otherwise one error says to run ``flowctl db migrate``;
- naive dates in the DAG file are in ``[core] default_timezone``: a script run as ``python my_dag.py``
  built its DAG before flowctl read its settings (flowctl reads none at import time), in UTC, so with
  another zone configured the DAG is taken from its file again, as each try takes it;
- the DAG is serialized here, from the object, and stored as the DAG processor stores a parse
  (``sync_dag``) with its file as ``fileloc``: the file may be outside the DAG folder (a script run
  as ``python my_dag.py``);
- the run is ``manual__<logical date>``; a run that exists at that date is deleted first, as Airflow
  does, so a second test at the same date runs the DAG and the conf as they are now;
- each try imports the DAG's file as the task runner always does, under a module name of its own,
  so the file's ``if __name__ == "__main__": dag.test()`` does not run again; a ``dag.test()`` called
  while one runs in this process (an unguarded call at the top of the file) is refused;
- the variables and connections of ``variable_file_path`` / ``conn_file_path`` (JSON, YAML or .env,
  read by ``flowctl/secret_files.py``) are seen by the tries ahead of the database's and never
  written to it (``FLOWCTL_VAR_*`` / ``FLOWCTL_CONN_*`` environment variables still come first);
- task state changes and each try's log lines are printed to ``sys.stdout`` as they happen.

It returns the finished run as ``flowctl.models.DagRun`` (state, conf, dates, ``get_task_instances()``).
Runs user code (the tries): the scheduler daemon never calls it. Must not import click, flask,
SQLAlchemy (the Store is imported inside the function), web or cli.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

from flowctl.core import timezones
from flowctl.core.errors import FlowctlError, NotSupportedError, first_line
from flowctl.core.masking import redact_url
from flowctl.core.states import DagRunState

#: Airflow's ``dag.test()`` arguments flowctl cannot honour, and what to do instead.
UNSUPPORTED: Mapping[str, str] = {
    "use_executor": "each task runs in this process, as with `flowctl dags test`; to use the configured "
                    "executor, trigger the DAG (`flowctl dags trigger`) and run `flowctl scheduler`",
    "session": "flowctl passes no database session around; DAG.test() opens its own connection to "
               "[database] sql_alchemy_conn",
    "run_after": "give logical_date (or execution_date) instead",
}
#: The dag_ids of the ``DAG.test()`` runs going on in this process.
_ACTIVE: list[str] = []


def refuse_unsupported(**given: Any) -> None:
    """NotSupportedError naming each of :data:`UNSUPPORTED` given a value (None and False are no value)."""
    named = [name for name, value in given.items() if value is not None and value is not False]
    if named:
        reasons = "; ".join(f"{name}: {UNSUPPORTED[name]}" for name in named)
        raise NotSupportedError(f"DAG.test() does not support {', '.join(named)} in flowctl ({reasons})")


def chosen_date(execution_date: datetime | None, logical_date: datetime | None) -> datetime | None:
    """The one logical date given (Airflow 2 calls it ``execution_date``, Airflow 3 ``logical_date``)."""
    if execution_date is not None and logical_date is not None:
        raise FlowctlError("DAG.test() takes execution_date or logical_date (the same thing), not both")
    when = logical_date if logical_date is not None else execution_date
    if when is not None and not isinstance(when, datetime):
        raise FlowctlError(f"DAG.test() takes a datetime as its logical date, not {when!r}")
    return when


def run_dag_test(dag: Any, logical_date: datetime | None, run_conf: Mapping[str, Any] | None, *,
                 conn_file_path: str | None = None, variable_file_path: str | None = None,
                 mark_success_pattern: str | re.Pattern[str] | None = None) -> Any:
    """One run of ``dag`` at ``logical_date`` (default: now) with ``run_conf``, run here and printed to
    ``sys.stdout`` (as it is when called); the finished run."""
    from flowctl.db.store import Store
    from flowctl.settings import Settings

    if _ACTIVE:
        raise FlowctlError(f"DAG.test() of {dag.dag_id!r} was called while DAG.test() of {_ACTIVE[-1]!r} runs in "
                           "this process: a DAG file that calls dag.test() must do it under "
                           "`if __name__ == \"__main__\":`, or each task's import of the file runs it again")
    stream = sys.stdout
    fileloc = dag_file(dag)
    pattern = _pattern(mark_success_pattern)
    secrets = _file_secrets(conn_file_path, variable_file_path)  # a bad file fails before any row is written
    settings = Settings.load()
    store = Store.from_settings(settings)
    _ACTIVE.append(dag.dag_id)
    try:
        check_database(store)
        dag = in_default_timezone(dag, fileloc, settings.default_timezone)  # after _ACTIVE: the file may call test()
        when = _aware(logical_date, settings.default_timezone)
        return _run(dag, fileloc, when, run_conf, store, settings, secrets, pattern, stream)
    finally:
        _ACTIVE.pop()
        store.close()


def _run(dag: Any, fileloc: str, when: datetime, conf: Mapping[str, Any] | None, store: Any, settings: Any,
         secrets: tuple[dict[str, str], dict[str, Any]], pattern: re.Pattern[str] | None, stream: TextIO) -> Any:
    from flowctl.dag_processing.serialization import serialize_dag
    from flowctl.scheduler.local_run import LocalRun, start_fresh_test_run
    from flowctl.task_runner.preparation import run_info
    from flowctl.task_runner.run_reads import StoreReads
    from flowctl.task_runner.secrets import FileSecretsStore

    dag.validate()
    now = datetime.now(timezone.utc)
    store.sync_dag({**serialize_dag(dag), "fileloc": fileloc}, fileloc, now,
                   paused_at_creation=bool(settings.get("core", "dags_are_paused_at_creation")))
    run = start_fresh_test_run(store, dag.dag_id, when, dict(conf) if conf is not None else None, "DAG.test()")

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    say(f"Testing DAG {dag.dag_id}, run {run.run_id}")
    variables, connections = secrets
    runs_with = FileSecretsStore(store, variables, connections) if variables or connections else store
    state = LocalRun(runs_with, settings, run.key, say, mark_success=pattern, log_stream=stream).run_to_end()
    say(f"Run of {dag.dag_id} at {when.isoformat()}: {state}"
        + ("" if state == DagRunState.SUCCESS.value else " (see the task logs above)"))
    return run_info(store.get_run(dag.dag_id, run.run_id)).with_reads(StoreReads(store))


def in_default_timezone(dag: Any, fileloc: str, zone_name: str) -> Any:
    """Make ``zone_name`` (``[core] default_timezone``) this process's zone of naive dates; ``dag`` as its
    file defines it in that zone: ``dag`` itself for UTC, else the DAG imported from ``fileloc`` again
    (the task runner's import, cached: the tries reuse it)."""
    timezones.use_default_timezone(zone_name)
    if timezones.TIMEZONE is timezones.utc:
        return dag
    from flowctl.task_runner.dagfile import load_dag

    return load_dag(fileloc, dag.dag_id)


def dag_file(dag: Any) -> str:
    """The absolute path of the file that defines ``dag``: each try imports it. A FlowctlError when the
    DAG was not made by a file (a notebook, ``python -c``, an interactive session)."""
    fileloc = str(getattr(dag, "fileloc", "") or "")
    if not fileloc or not os.path.isfile(fileloc):
        raise FlowctlError(f"DAG.test() runs each task of DAG {dag.dag_id!r} by importing the file that defines it, "
                           f"and it has none ({fileloc or 'no fileloc'}): define the DAG in a .py file and run "
                           "that file (`python my_dag.py`)")
    return os.path.abspath(fileloc)


def check_database(store: Any) -> None:
    """A FlowctlError saying to run ``flowctl db migrate`` unless the metadata database has flowctl's tables
    at the newest revision (and a FlowctlError naming the database when it cannot be reached)."""
    from flowctl.core.errors import ConfigError
    from flowctl.db import migrate

    url = store.engine.url
    where = redact_url(url.render_as_string(hide_password=False))  # passwords (userinfo, query) as ***
    if _missing_sqlite_file(store.dialect, url.database):  # connecting would make an empty file
        raise FlowctlError(f"the metadata database {where} is not initialised: run `flowctl db migrate` first")
    try:
        at = migrate.current(store.engine)
    except Exception as error:  # noqa: BLE001 - whatever the driver raised: one line instead of its traceback
        raise FlowctlError(f"cannot use the metadata database {where} ({first_line(error)}); check [database] "
                           "sql_alchemy_conn, then run `flowctl db migrate`") from None
    if at is None:
        raise FlowctlError(f"the metadata database {where} is not initialised: run `flowctl db migrate` first")
    try:
        newest = migrate.head()
    except ConfigError:  # no migrations folder here (not a checkout): the database cannot be judged older
        return
    if at != newest:
        raise FlowctlError(f"the metadata database {where} is at revision {at}, flowctl needs {newest}: "
                           "run `flowctl db migrate` first")


def _missing_sqlite_file(dialect: str, database: str | None) -> bool:
    if dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not os.path.exists(database)


def _aware(when: datetime | None, zone_name: str) -> datetime:
    """The run's logical date in UTC (now when None); a naive one is in ``[core] default_timezone``, as for
    ``flowctl dags test DATE``."""
    if when is None:
        return datetime.now(timezone.utc)
    if when.utcoffset() is None:
        when = timezones.make_aware(when, zone_name)
    return when.astimezone(timezone.utc)


def _pattern(given: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if given is None or isinstance(given, re.Pattern):
        return given
    try:
        return re.compile(given)
    except re.error as error:
        raise FlowctlError(f"DAG.test(): mark_success_pattern {given!r} is not a regular expression: {error}") from None


def _file_secrets(conn_file_path: str | None, variable_file_path: str | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The variables and connections (as the Store's records) of the two files; empty for a file not given."""
    from flowctl.secret_files import read_connections, read_variables

    variables = read_variables(os.fspath(variable_file_path)) if variable_file_path else {}
    connections = read_connections(os.fspath(conn_file_path)) if conn_file_path else {}
    return variables, connections
