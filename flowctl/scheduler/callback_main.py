"""Child process entry: run one DAG's on_success_callback / on_failure_callback for one run, or
one task's on_failure_callback / on_retry_callback for a try that died without recording its end.

``python -m flowctl.scheduler.callback_main FILELOC DAG_ID RUN_ID success|failure REASON``;
``python -m flowctl.scheduler.callback_main --task FILELOC DAG_ID RUN_ID TASK_ID MAP_INDEX TRY_NUMBER
failed|up_for_retry REASON``; ``python -m flowctl.scheduler.callback_main --sla FILELOC DAG_ID``: the
DAG's sla_miss_callback for its SLA misses not notified yet.
Runs user code (imports the DAG file, its naive dates in ``[core] default_timezone``), so it
never runs inside the scheduler process.
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


def run_dag_callbacks(dag: Any, run: Any, kind: str, reason: str, store: Any = None,
                      settings: Any = None) -> list[Exception]:
    """Call ``dag``'s on_success_callback (``kind`` "success") or on_failure_callback ("failure")
    for the finished ``run``, with the task context Airflow 2 gives them
    (:mod:`flowctl.task_runner.callback_context`); what they raised, each logged (none changes the run)."""
    from flowctl.core.masking import process_masker
    from flowctl.task_runner import secrets
    from flowctl.task_runner.callback_context import dag_callback_context

    callbacks = _callbacks(dag, kind)
    if not callbacks:
        return []
    raised: list[Exception] = []
    with secrets.installed(store, process_masker()) as backend:
        context = dag_callback_context(settings, store, dag, run, kind, reason, backend)
        for callback in callbacks:
            try:
                callback(context)
            except Exception as error:  # noqa: BLE001 - user code: report and go on
                log.exception("DAG %s on_%s_callback raised", dag.dag_id, kind)
                raised.append(error)
    return raised


def _load_settings() -> Any:
    """This process's Settings; their ``[core] default_timezone`` made the zone of naive dates before
    the DAG file is imported."""
    from flowctl.core.timezones import use_default_timezone
    from flowctl.settings import Settings

    settings = Settings.load()
    use_default_timezone(settings.default_timezone)
    return settings


def main(argv: list[str]) -> int:
    """Run the callbacks; 0 when all ran, 1 when one raised (logged)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["--task"]:
        return _task_main(argv[1:])
    if argv[:1] == ["--sla"]:
        return _sla_main(argv[1:])
    fileloc, dag_id, run_id, kind, reason = argv
    from flowctl.db.store import Store
    from flowctl.task_runner.dagfile import load_dag

    settings = _load_settings()
    store = Store.from_settings(settings)
    try:
        dag = load_dag(fileloc, dag_id)
        return 1 if run_dag_callbacks(dag, store.get_run(dag_id, run_id), kind, reason, store, settings) else 0
    finally:
        store.close()


def _task_main(argv: list[str]) -> int:
    fileloc, dag_id, run_id, task_id, map_index, try_number, state, reason = argv
    from flowctl.core.keys import TaskInstanceKey
    from flowctl.db.store import Store
    from flowctl.task_runner.dead_try import run_dead_try_callback

    settings = _load_settings()
    store = Store.from_settings(settings)
    try:
        key = TaskInstanceKey(dag_id, run_id, task_id, int(map_index))
        return 0 if run_dead_try_callback(settings, store, fileloc, key, int(try_number), state, reason) else 1
    finally:
        store.close()


def run_sla_miss_callbacks(dag: Any, store: Any) -> list[Exception]:
    """Call ``dag``'s sla_miss_callback(s) Airflow's way, ``(dag, task_list, blocking_task_list, slas,
    blocking_tis)``, with its misses not notified yet, then mark them notified if every callback
    returned; what they raised, each logged (the misses then come again with the next batch).
    Another scheduler's child for the same DAG waits for this one's turn to end, so it never
    calls with the same misses."""
    found = getattr(dag, "sla_miss_callback", None)
    callbacks = list(found) if isinstance(found, (list, tuple)) else [found] if found else []
    if not callbacks:
        return []
    with store.sla_notification_turn(dag.dag_id):
        slas = store.unnotified_sla_misses(dag.dag_id)
        if not slas:
            return []
        blocking_tis = store.sla_blocking_task_instances(dag.dag_id, sorted({m.run_id for m in slas}))
        dates = {m.run_id: m.logical_date for m in slas}
        task_list = "\n".join(f"{m.task_id} on {m.logical_date.isoformat()}" for m in slas)
        blocking_task_list = "\n".join(f"{ti.task_id} on {dates[ti.run_id].isoformat()}" for ti in blocking_tis)
        raised: list[Exception] = []
        for callback in callbacks:
            try:
                callback(dag, task_list, blocking_task_list, slas, blocking_tis)
            except Exception as error:  # noqa: BLE001 - user code: report and go on
                log.exception("DAG %s sla_miss_callback raised", dag.dag_id)
                raised.append(error)
        if not raised:
            store.mark_sla_misses_notified([m.id for m in slas])
        return raised


def _sla_main(argv: list[str]) -> int:
    fileloc, dag_id = argv
    from flowctl.db.store import Store
    from flowctl.task_runner.dagfile import load_dag

    store = Store.from_settings(_load_settings())
    try:
        return 1 if run_sla_miss_callbacks(load_dag(fileloc, dag_id), store) else 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
