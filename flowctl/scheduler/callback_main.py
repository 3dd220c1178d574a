"""Child process entry: run one DAG's on_success_callback / on_failure_callback for one run, or
one task's on_failure_callback / on_retry_callback for a try that died without recording its end.

``python -m flowctl.scheduler.callback_main FILELOC DAG_ID RUN_ID success|failure REASON``;
``python -m flowctl.scheduler.callback_main --task FILELOC DAG_ID RUN_ID TASK_ID MAP_INDEX TRY_NUMBER
failed|up_for_retry REASON``.
Runs user code (imports the DAG file), so it never runs inside the scheduler process.
:func:`run_dag_callbacks` is also what ``flowctl dags test`` and ``dags backfill --local`` call, in
their own process, for the runs they finish.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("flowctl.scheduler.callback")


def _callbacks(dag: Any, kind: str) -> list[Any]:
    found = getattr(dag, f"on_{kind}_callback", None)
    if found is None:
        return []
    return list(found) if isinstance(found, (list, tuple)) else [found]


def callback_context(dag: Any, run: Any, reason: str) -> dict[str, Any]:
    """What a DAG callback receives (the common Airflow context keys for a finished run)."""
    logical = run.logical_date
    return {"dag": dag, "dag_run": run, "run_id": run.run_id, "reason": reason, "logical_date": logical,
            "ds": logical.strftime("%Y-%m-%d"), "ts": logical.isoformat(),
            "data_interval_start": run.data_interval_start, "data_interval_end": run.data_interval_end,
            "params": dict(getattr(dag, "params", None) or {}), "conf": dict(run.conf or {})}


def run_dag_callbacks(dag: Any, run: Any, kind: str, reason: str) -> list[Exception]:
    """Call ``dag``'s on_success_callback (``kind`` "success") or on_failure_callback ("failure")
    for the finished ``run``; what they raised, each logged (none changes the run)."""
    context = callback_context(dag, run, reason)
    raised: list[Exception] = []
    for callback in _callbacks(dag, kind):
        try:
            callback(context)
        except Exception as error:  # noqa: BLE001 - user code: report and go on
            log.exception("DAG %s on_%s_callback raised", dag.dag_id, kind)
            raised.append(error)
    return raised


def main(argv: list[str]) -> int:
    """Run the callbacks; 0 when all ran, 1 when one raised (logged)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["--task"]:
        return _task_main(argv[1:])
    fileloc, dag_id, run_id, kind, reason = argv
    from flowctl.db.store import Store
    from flowctl.settings import Settings
    from flowctl.task_runner.dagfile import load_dag

    settings = Settings.load()
    store = Store.from_settings(settings)
    try:
        dag = load_dag(fileloc, dag_id)
        return 1 if run_dag_callbacks(dag, store.get_run(dag_id, run_id), kind, reason) else 0
    finally:
        store.close()


def _task_main(argv: list[str]) -> int:
    fileloc, dag_id, run_id, task_id, map_index, try_number, state, reason = argv
    from flowctl.core.keys import TaskInstanceKey
    from flowctl.db.store import Store
    from flowctl.settings import Settings
    from flowctl.task_runner.dead_try import run_dead_try_callback

    settings = Settings.load()
    store = Store.from_settings(settings)
    try:
        key = TaskInstanceKey(dag_id, run_id, task_id, int(map_index))
        return 0 if run_dead_try_callback(settings, store, fileloc, key, int(try_number), state, reason) else 1
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
