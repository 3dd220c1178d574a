"""POST actions on a whole DAG: trigger, backfill, kill runs, delete history — blueprint ``dag_actions``.

The trigger form is generated from the DAG's params (``trigger_form.py``)
with a JSON conf editor and the last confs used (read back from the audit
rows of earlier triggers). Backfill, kill-runs and delete-history confirm
first (``run_actions.confirm_page``). Every action writes one audit row.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, flash, redirect, request

from flowctl.core import timezones
from flowctl.core.errors import AlreadyExistsError, ParamValidationError
from flowctl.db.operations import ExistingRunPolicy
from flowctl.web import context, ui_time
from flowctl.web.auth import requires_dag
from flowctl.web.dag_views import dag_page, render_dag
from flowctl.web.links import dag_url, run_url
from flowctl.web.permissions import Perm
from flowctl.web.run_actions import back_to, confirm_page, confirmed
from flowctl.web.trigger_form import conf_from_form, param_fields, recent_confs

bp = Blueprint("dag_actions", __name__)
TRIGGER_EVENT = "trigger"
KILLABLE = ("queued", "running")
LATEST = datetime.max.replace(tzinfo=timezone.utc)


def paused_note(dag: Any) -> str:
    """What a manual run of ``dag`` does while it is paused ("" when it is not paused)."""
    if not dag.is_paused:
        return ""
    if context.settings().get("scheduler", "run_manual_when_paused"):
        return (f"{dag.dag_id} is paused: a manual run still runs ([scheduler] run_manual_when_paused); "
                "its schedule stays paused.")
    return (f"{dag.dag_id} is paused: a manual run waits, queued, until it is unpaused "
            "([scheduler] run_manual_when_paused is off).")


def _trigger_form(dag_id: str, error: str | None = None, status: int = 200) -> Any:
    page = dag_page(dag_id, "")
    fields = param_fields(page.data.get("params") or {})
    audits = context.store().list_audit(dag_id=dag_id, event=TRIGGER_EVENT, limit=50)
    html = render_dag("dag/trigger.html", page, "trigger", fields=fields, error=error,
                      recent=recent_confs(a.extra for a in audits), form=request.form,
                      paused_note=paused_note(page.dag))
    return html, status


@bp.route("/dags/<dag_id>/trigger", methods=["GET", "POST"])
@requires_dag(Perm.DAG_EDIT)
def trigger(dag_id: str) -> Any:
    """GET: the form from the DAG's params. POST: create a manual run with that conf."""
    if request.method == "GET":
        return _trigger_form(dag_id)
    page = dag_page(dag_id, "")
    fields = param_fields(page.data.get("params") or {})
    try:
        conf = conf_from_form(fields, request.form, request.form.get("conf", ""))
        logical = _moment(request.form.get("logical_date", ""))
        run = context.store().trigger_dag(dag_id, now=context.now(), run_id=request.form.get("run_id") or None,
                                          logical_date=logical, conf=conf,
                                          note=request.form.get("note") or None)
    except (ParamValidationError, AlreadyExistsError) as exc:
        return _trigger_form(dag_id, error=str(exc), status=400)
    context.audit(TRIGGER_EVENT, dag_id=dag_id, run_id=run.run_id, extra={"conf": conf})
    note = paused_note(page.dag)
    flash(f"Triggered {dag_id}: run {run.run_id} is queued." + (f" {note}" if note else ""),
          "warning" if note else "success")
    return redirect(run_url(dag_id, run.run_id))


def _moment(text: str) -> datetime | None:
    """A date or datetime from a form (in the page's zone when it names none)."""
    if not text.strip():
        return None
    try:
        return timezones.parse_moment(text, ui_time.zone())
    except ValueError as error:
        raise ParamValidationError(str(error)) from None


def _end_of(text: str) -> datetime | None:
    """An inclusive end: a bare date means the end of that day (9999-12-31: the last moment there is)."""
    value = _moment(text)
    if value is not None and len(text.strip()) == 10:
        value = value + min(timedelta(days=1) - timedelta(microseconds=1), LATEST - value)
    return value


@bp.route("/dags/<dag_id>/backfill", methods=["GET", "POST"])
@requires_dag(Perm.DAG_EDIT)
def backfill(dag_id: str) -> Any:
    """GET: the date-range form. POST: the runs it would create; confirmed: create them."""
    page = dag_page(dag_id, "")
    if request.method == "GET":
        return render_dag("dag/backfill.html", page, "backfill", error=None, policies=list(ExistingRunPolicy))
    try:
        start, end = _moment(request.form.get("start", "")), _end_of(request.form.get("end", ""))
        if start is None or end is None or end < start:
            raise ParamValidationError("give a start and an end date, the end not before the start")
        policy = ExistingRunPolicy(request.form.get("policy") or ExistingRunPolicy.KEEP.value)
        items = context.store().plan_backfill(dag_id, start, end, policy)
    except (ParamValidationError, ValueError) as exc:
        return render_dag("dag/backfill.html", page, "backfill", error=str(exc),
                          policies=list(ExistingRunPolicy)), 400
    if not confirmed():
        lines = [f"{i.logical_date:%Y-%m-%d %H:%M} {i.run_id}: {i.action}" for i in items]
        return confirm_page(f"Backfill {len(items)} date(s)", f"Backfill {dag_id} from {start:%Y-%m-%d %H:%M} "
                            f"to {end:%Y-%m-%d %H:%M}:", lines or ["no dates of the schedule fall in this range"])
    keys = context.store().apply_backfill(dag_id, items, context.now())
    created = sum(1 for i in items if i.action == "create")
    context.audit("backfill", dag_id=dag_id, extra={"start": start.isoformat(), "end": end.isoformat(),
                                                     "policy": policy.value, "runs": len(keys), "created": created})
    flash(f"Backfill of {dag_id}: {created} run(s) created, {len(keys) - created} existing.", "success")
    return redirect(dag_url(dag_id, "grid"))


@bp.route("/dags/<dag_id>/kill-runs", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def kill_runs(dag_id: str) -> Any:
    """Fail many runs at once: the chosen ``run_id``s, or every run in the chosen states."""
    store = context.store()
    run_ids = [r for r in request.form.getlist("run_id") if r] or None
    states = [s for s in request.form.getlist("state") if s in KILLABLE] or list(KILLABLE)
    runs = [r for r in store.run_window(dag_id, 0, 500) if r.state in states
            and (run_ids is None or r.run_id in run_ids)]
    if not confirmed():
        return confirm_page(f"Kill {len(runs)} run(s)", f"These runs of {dag_id} will fail: running tries are "
                            "stopped, unfinished tasks skipped.", [f"{r.run_id} ({r.state})" for r in runs],
                            danger=True)
    report = store.kill_runs(dag_id, states, context.now(), run_ids=run_ids)
    context.audit("kill_runs", dag_id=dag_id, extra={"runs": [k.run_id for k in report.runs],
                                                      "killed_tries": len(report.killed)})
    flash(f"Killed {len(report.runs)} run(s) of {dag_id}.", "success")
    return back_to(dag_url(dag_id))


@bp.route("/dags/<dag_id>/delete-history", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def delete_history(dag_id: str) -> Any:
    """Delete every run, task instance, XCom and version of the DAG (the audit log stays)."""
    store = context.store()
    if not confirmed():
        count = store.count_runs(dag_id)
        return confirm_page(f"Delete the history of {dag_id}", "Every run, task instance, XCom and stored "
                            "version of this DAG is deleted; the DAG comes back when its file is parsed again. "
                            "The audit log stays.", [f"{count} run(s)"], danger=True)
    counts = store.delete_dag(dag_id)
    context.audit("delete_history", dag_id=dag_id, extra={k: v for k, v in counts.items() if v})
    flash(f"Deleted the history of {dag_id}: {counts.get('dag_run', 0)} run(s).", "success")
    return redirect("/")
