"""Bulk actions on a selection of task instances or runs (browse pages): clear, mark, kill runs.

The selection arrives as form values holding JSON keys (``["dag", "run", "task", map_index]``
or ``["dag", "run"]``), so no id character can break the parsing. Every DAG in
the selection must allow the user DAG_EDIT, else nothing happens (403).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from flask import abort

from flowctl.core.errors import FlowctlError
from flowctl.core.keys import MAX_MAP_INDEX
from flowctl.core.states import DagRunState
from flowctl.db.records import RunKey, TaskInstanceKey
from flowctl.web import context
from flowctl.web.auth import dag_perms
from flowctl.web.permissions import Perm

ACTIONS = ("clear", "mark_success", "mark_failed", "kill_runs")
MAX_SELECTION = 1_000


def _id(value: Any) -> str:
    """One id of a key as text; UnicodeEncodeError (a ValueError) for a lone surrogate (a JSON ``\\ud800``),
    which no query can take."""
    text = str(value)
    text.encode("utf-8")
    return text


def parse_ti_keys(values: Iterable[str]) -> list[TaskInstanceKey]:
    """Task-instance keys from ``["dag", "run", "task", map_index]`` JSON values."""
    keys = []
    for raw in values:
        try:
            dag_id, run_id, task_id, map_index = json.loads(raw)
            if not -1 <= int(map_index) <= MAX_MAP_INDEX:
                raise ValueError(map_index)
            keys.append(TaskInstanceKey(_id(dag_id), _id(run_id), _id(task_id), int(map_index)))
        except (ValueError, TypeError):
            raise FlowctlError(f"not a task instance key: {raw[:80]!r}") from None
    return keys


def parse_run_keys(values: Iterable[str]) -> list[RunKey]:
    """Run keys from ``["dag", "run"]`` JSON values."""
    keys = []
    for raw in values:
        try:
            dag_id, run_id = json.loads(raw)
            keys.append(RunKey(_id(dag_id), _id(run_id)))
        except (ValueError, TypeError):
            raise FlowctlError(f"not a run key: {raw[:80]!r}") from None
    return keys


def _check_selection(dag_ids: Iterable[str], size: int) -> None:
    if size == 0:
        abort(400, description="select at least one row")
    if size > MAX_SELECTION:
        abort(400, description=f"select at most {MAX_SELECTION} rows at once")
    for dag_id in set(dag_ids):
        if Perm.DAG_EDIT not in dag_perms(dag_id):
            abort(403, description=f"your role does not allow changing DAG {dag_id!r}")


def apply_to_task_instances(action: str, keys: Sequence[TaskInstanceKey]) -> str:
    """Do ``action`` on these task instances; returns what happened, for the flash message."""
    _check_selection((k.dag_id for k in keys), len(keys))
    store, now = context.store(), context.now()
    if action == "clear":
        report = store.clear_task_instances(keys, now)
    elif action in ("mark_success", "mark_failed"):
        report = store.mark_task_instances(keys, action.removeprefix("mark_"), now)
    elif action == "kill_runs":
        return kill_runs({k.run_key for k in keys})
    else:
        abort(400, description=f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    for key in report.task_instances:
        context.audit(action, dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index)
    return f"{action.replace('_', ' ')}: {len(report.task_instances)} of {len(keys)} task instances changed"


def apply_to_runs(action: str, keys: Sequence[RunKey]) -> str:
    """Do ``action`` on these runs: clear every task instance, mark the whole runs as the run page
    does (their teardowns whose setups ran still run), or kill them (kill_runs fails unfinished runs)."""
    _check_selection((k.dag_id for k in keys), len(keys))
    if action == "kill_runs":
        return kill_runs(set(keys))
    if action not in ACTIONS:
        abort(400, description=f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if action in ("mark_success", "mark_failed"):
        return _mark_runs(action, keys)
    store = context.store()
    tis = [ti.key for run in keys for ti in store.list_task_instances(run)]
    return apply_to_task_instances(action, tis) if tis else "nothing to change"


def _mark_runs(action: str, keys: Sequence[RunKey]) -> str:
    store, now = context.store(), context.now()
    new = DagRunState.SUCCESS if action == "mark_success" else DagRunState.FAILED
    changed, teardowns = 0, 0
    for run in store.runs_by_key(list(keys)):
        report = store.mark_run(run.key, new, now)
        changed += len(report.task_instances)
        teardowns += len(report.teardowns_left)
        for key in report.task_instances:
            context.audit(action, dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index)
    left = f"; {teardowns} teardown task instance(s) still run to clean up" if teardowns else ""
    return f"{action.replace('_', ' ')}: {changed} task instances of {len(keys)} runs changed{left}"


def kill_runs(runs: set[RunKey]) -> str:
    """Fail these runs if unfinished: running tries are killed, the rest skipped."""
    store, now = context.store(), context.now()
    by_dag: dict[str, list[str]] = {}
    for run in runs:
        by_dag.setdefault(run.dag_id, []).append(run.run_id)
    killed = 0
    for dag_id, run_ids in by_dag.items():
        report = store.kill_runs(dag_id, ("queued", "running"), now, run_ids=run_ids)
        killed += len(report.runs)
        for key in report.runs:
            context.audit("kill_runs", dag_id=key.dag_id, run_id=key.run_id)
    return f"kill runs: {killed} of {len(runs)} runs failed"
