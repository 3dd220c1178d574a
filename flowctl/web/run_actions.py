"""POST actions on a run and its task instances: clear, mark success / failed, force-run, delete, note — blueprint ``run_actions``.

Every action is two steps: the first POST shows what would change (nothing
written), the second (``confirmed=1``) applies it through the Store's
operation verbs, writes one audit row and goes back to the page it came from.
All need the DAG_EDIT permission on the DAG (``requires_dag``) and the CSRF
token (checked for every POST by ``security.check_csrf``); deleting a run,
which cannot be undone, also needs the Op role or above (:data:`DELETE_RUN_PERM`).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request

from flowctl.core.keys import RunKey, TaskInstanceKey, check_note
from flowctl.core.planner import run_mark, task_graph
from flowctl.core.states import TaskInstanceState
from flowctl.db.operations import ClearSpec
from flowctl.db.records import DagRunRecord, TaskInstanceRecord
from flowctl.db.run_marks import RunMarkReport
from flowctl.web import context
from flowctl.web.auth import can, requires_dag
from flowctl.web.dag_model import group_tree
from flowctl.web.dag_views import serialized_for
from flowctl.web.links import dag_url, local_path, run_url, ti_url
from flowctl.web.permissions import Perm
from flowctl.web.run_views import failed_dependencies

bp = Blueprint("run_actions", __name__)
TI = TaskInstanceState
FLAGS = ("upstream", "downstream", "recursive", "only_failed")
#: Deleting a run needs this besides DAG_EDIT on its DAG: Op and Admin have it, User does not.
DELETE_RUN_PERM = Perm.CONFIG


def flag(name: str) -> bool:
    """A checkbox of the submitted form."""
    return request.form.get(name, "").lower() in ("1", "true", "on", "yes")


def confirmed() -> bool:
    return flag("confirmed")


def back_to(default: str) -> Any:
    """Redirect to the form's ``next`` (a local path only) or ``default``."""
    return redirect(local_path(request.form.get("next")) or default)


def confirm_page(title: str, message: str, items: Sequence[str], *, danger: bool = False,
                 skipped: Sequence[str] = ()) -> Any:
    """The confirmation step: what will change, and a form that re-posts with ``confirmed=1``."""
    fields = [(k, v) for k in request.form for v in request.form.getlist(k) if k not in ("csrf_token", "confirmed")]
    cancel = local_path(request.form.get("next")) or dag_url(str((request.view_args or {}).get("dag_id", "")))
    return render_template("dag/confirm.html", title=title, message=message, items=items, fields=fields,
                           action=request.path, danger=danger, skipped=skipped, cancel_url=cancel)


# --- choosing task instances ------------------------------------------------------------------

def _group_members(tree: Mapping[str, Any], group_id: str, recursive: bool) -> list[str] | None:
    if tree.get("group_id") == group_id:
        out: list[str] = []
        for child in tree.get("children") or ():
            if not isinstance(child, Mapping):
                out.append(str(child))
            elif recursive:
                out.extend(_group_members(child, str(child["group_id"]), True) or [])
        return out
    for child in tree.get("children") or ():
        if isinstance(child, Mapping):
            found = _group_members(child, group_id, recursive)
            if found is not None:
                return found
    return None


def expand_nodes(data: Mapping[str, Any], nodes: Sequence[str], recursive: bool) -> list[str]:
    """Task ids for selected nodes: a task stands for itself; a group for its tasks (nested ones if recursive)."""
    tree = group_tree(data)
    out: list[str] = []
    for node in nodes:
        members = _group_members(tree, node, recursive)
        out.extend(members if members is not None else [node])
    return sorted(set(out))


def _regex(task_ids: Sequence[str]) -> str | None:
    return None if not task_ids else "^(" + "|".join(re.escape(t) for t in task_ids) + ")$"


def chosen_instances(run: DagRunRecord, nodes: Sequence[str]) -> list[TaskInstanceRecord]:
    """The task instances of the run the form selects (all of them when it names no task)."""
    data = serialized_for(run.dag_id, run)
    task_ids = expand_nodes(data, nodes, flag("recursive"))
    spec = ClearSpec(task_regex=_regex(task_ids), upstream=flag("upstream"), downstream=flag("downstream"),
                     only_failed=flag("only_failed"), run_id=run.run_id)
    if nodes and not task_ids:
        return []
    tis = context.store().task_instances_to_clear(run.dag_id, spec)
    map_index = request.form.get("map_index", type=int)
    if map_index is not None and map_index >= 0 and len(nodes) == 1:
        tis = [t for t in tis if t.task_id != nodes[0] or t.map_index == map_index]
    return list(tis)


def _label(ti: TaskInstanceRecord) -> str:
    suffix = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
    return f"{ti.task_id}{suffix} ({ti.state})"


def _nodes(task_id: str | None) -> list[str]:
    return [task_id] if task_id else [t for t in request.form.getlist("task_id") if t]


# --- clear ----------------------------------------------------------------------------------------

@bp.route("/dags/<dag_id>/runs/<run_id>/clear", methods=["POST"])
@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/clear", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def clear(dag_id: str, run_id: str, task_id: str | None = None) -> Any:
    """Clear task instances of a run (all, or the chosen ones with upstream / downstream / only failed)."""
    run = context.store().get_run(dag_id, run_id)
    tis = chosen_instances(run, _nodes(task_id))
    if not confirmed():
        return confirm_page(f"Clear {len(tis)} task instance(s)", f"Run {run_id} of {dag_id}: these go back "
                            "to pending and run again.", [_label(t) for t in tis])
    report = context.store().clear_task_instances([t.key for t in tis], context.now())
    context.audit("clear", dag_id=dag_id, run_id=run_id, task_id=task_id,
                  extra={"task_instances": len(report.task_instances), **{f: flag(f) for f in FLAGS}})
    flash(f"Cleared {len(report.task_instances)} task instance(s).", "success")
    return back_to(run_url(dag_id, run_id))


# --- mark -------------------------------------------------------------------------------------

def mark_run(run: DagRunRecord, state: str) -> RunMarkReport:
    """Mark a whole run (it takes ``state`` at once): success marks its tasks success, failed stops what
    is unfinished; either way its teardowns whose setups ran still run, as in Airflow."""
    return context.store().mark_run(run.key, state, context.now())


def teardowns_note(report: RunMarkReport) -> str:
    """The flash message's word on the teardowns a mark left to run (empty when it left none)."""
    names = sorted({k.task_id for k in report.teardowns_left})
    return f" Teardown task(s) {', '.join(names)} still run to clean up." if names else ""


def run_mark_items(run: DagRunRecord, tis: Sequence[TaskInstanceRecord], state: str) -> list[str]:
    """What marking the whole run ``state`` does to each task instance it changes (``t (running → failed)``),
    decided by the same pure rule the Store applies."""
    decision = run_mark(task_graph(serialized_for(run.dag_id, run)), {(t.task_id, t.map_index): t.state for t in tis},
                        state)
    items = [f"the run ({run.state} → {state})"] if run.state != state else []
    for ti in tis:
        target = decision.changes.get((ti.task_id, ti.map_index))
        if target is not None and target.value != ti.state:
            suffix = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
            items.append(f"{ti.task_id}{suffix} ({ti.state} → {target.value})")
    return items


def _mark(dag_id: str, run_id: str, task_id: str | None, state: str) -> Any:
    store = context.store()
    run = store.get_run(dag_id, run_id)
    nodes = _nodes(task_id)
    whole_run = not nodes
    tis = store.list_task_instances(run.key) if whole_run else chosen_instances(run, nodes)
    if not confirmed():
        items = run_mark_items(run, tis, state) if whole_run else [_label(t) for t in tis if t.state != state]
        what = f"the whole run {run_id} (and the run itself)" if whole_run else f"{len(items)} task instance(s)"
        after = " Its teardown tasks whose setups ran still run, to clean up." if whole_run else ""
        return confirm_page(f"Mark {state}", f"Mark {what} of {dag_id} as {state}.{after}",
                            items, danger=state == TI.FAILED.value)
    note = ""
    if whole_run:
        report = mark_run(run, state)
        changed, note = len(report.task_instances), teardowns_note(report)
    else:
        changed = len(store.mark_task_instances([t.key for t in tis], state, context.now()).task_instances)
    context.audit(f"mark_{state}", dag_id=dag_id, run_id=run_id, task_id=task_id,
                  extra={"task_instances": changed, "whole_run": whole_run})
    flash(f"Marked {changed} task instance(s) {state}.{note}", "success")
    return back_to(run_url(dag_id, run_id))


@bp.route("/dags/<dag_id>/runs/<run_id>/mark-success", methods=["POST"])
@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/mark-success", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def mark_success(dag_id: str, run_id: str, task_id: str | None = None) -> Any:
    """Mark a run, or chosen task instances, success."""
    return _mark(dag_id, run_id, task_id, TI.SUCCESS.value)


@bp.route("/dags/<dag_id>/runs/<run_id>/mark-failed", methods=["POST"])
@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/mark-failed", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def mark_failed(dag_id: str, run_id: str, task_id: str | None = None) -> Any:
    """Mark a run, or chosen task instances, failed."""
    return _mark(dag_id, run_id, task_id, TI.FAILED.value)


# --- force-run ---------------------------------------------------------------------------------

@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/run", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def force_run(dag_id: str, run_id: str, task_id: str) -> Any:
    """Run one task instance now, ignoring its dependencies: cleared if finished, then scheduled."""
    store = context.store()
    run = store.get_run(dag_id, run_id)
    key = TaskInstanceKey(dag_id, run_id, task_id, request.form.get("map_index", -1, type=int))
    ti = store.get_task_instance(key)
    page = ti_url(dag_id, run_id, task_id, key.map_index)
    if ti.state in (TI.RUNNING.value, TI.QUEUED.value, TI.SCHEDULED.value):
        flash(f"{task_id} is already {ti.state}.", "warning")
        return back_to(page)
    if not confirmed():
        pending = ti if ti.state == TI.PENDING.value else None
        skipped = failed_dependencies(run, serialized_for(dag_id, run), pending) if pending else []
        return confirm_page(f"Force-run {task_id}", f"Run {task_id} of run {run_id} now, whatever its upstream "
                            "tasks, trigger rule, past runs and pool say.", [_label(ti)],
                            skipped=skipped or ["nothing holds it: its dependencies are met"])
    if ti.state != TI.PENDING.value:
        store.clear_task_instances([key], context.now())
    started = store.set_task_state(key, TI.PENDING, TI.SCHEDULED, updated_at=context.now())
    context.audit("force_run", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=key.map_index,
                  extra={"was": ti.state, "scheduled": started})
    flash(f"{task_id} is scheduled to run now." if started else f"{task_id} changed meanwhile; nothing done.",
          "success" if started else "warning")
    return back_to(page)


# --- notes -------------------------------------------------------------------------------------

def _note() -> str | None:
    """The form's note, trimmed (empty: no note); ParamValidationError past Airflow's 1,000 characters."""
    note = request.form.get("note", "").strip() or None
    check_note(note)
    return note


@bp.route("/dags/<dag_id>/runs/<run_id>/note", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def set_run_note(dag_id: str, run_id: str) -> Any:
    """Add, change or (empty) remove a run's note, as Airflow 2's grid details do."""
    store = context.store()
    run = store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    note = _note()
    store.set_run_note(RunKey(dag_id, run_id), note, context.now())
    context.audit("set_note", dag_id=dag_id, run_id=run.run_id, extra={"note": note})
    flash("Note saved." if note else "Note removed.", "success")
    return back_to(run_url(dag_id, run_id))


@bp.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/note", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def set_task_note(dag_id: str, run_id: str, task_id: str) -> Any:
    """Add, change or (empty) remove a task instance's note."""
    store = context.store()
    key = TaskInstanceKey(dag_id, run_id, task_id, request.form.get("map_index", -1, type=int))
    store.get_task_instance(key)  # not found -> 404
    note = _note()
    store.set_task_instance_note(key, note, context.now())
    context.audit("set_note", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=key.map_index,
                  extra={"note": note})
    flash("Note saved." if note else "Note removed.", "success")
    return back_to(ti_url(dag_id, run_id, task_id, key.map_index))


# --- delete ------------------------------------------------------------------------------------

def check_may_delete_run() -> None:
    """403 unless the current user may delete runs (the page and the API alike): DAG_EDIT on the DAG
    is not enough, deleting needs :data:`DELETE_RUN_PERM` too."""
    if not can(DELETE_RUN_PERM):
        abort(403, description="deleting a run needs the Op role or above")


@bp.route("/dags/<dag_id>/runs/<run_id>/delete", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def delete_run(dag_id: str, run_id: str) -> Any:
    """Delete one run with its task instances, tries and XComs (the audit log and log files stay)."""
    check_may_delete_run()
    store = context.store()
    run = store.get_run(dag_id, run_id)  # DagRunNotFound -> 404
    if not confirmed():
        tis = store.list_task_instances(run.key)
        return confirm_page(f"Delete run {run_id}", f"Run {run_id} of {dag_id} ({run.state}) is deleted with its "
                            "task instances, their tries and XComs. This cannot be undone; the audit log and "
                            "the log files stay.", [_label(t) for t in tis] or ["no task instances"],
                            danger=True)
    counts = store.delete_run(run.key)
    context.audit("delete_run", dag_id=dag_id, run_id=run_id, extra={k: v for k, v in counts.items() if v})
    flash(f"Deleted run {run_id} of {dag_id} ({counts.get('task_instance', 0)} task instance(s)).", "success")
    return redirect(dag_url(dag_id, "grid"))
