"""The run CLI: ``flowctl dags trigger | pause | unpause | state | list-runs | delete | next-execution``,
``test`` and ``kill-runs`` (``backfill`` is in ``flowctl/cli/backfill_cmd.py``).

Thin commands over the Store's operation verbs (``flowctl/db/operations.py``):
each audits what it did (source ``cli``) and wakes the scheduler after a write
it should react to. ``dags test`` runs tasks in this process through
``flowctl/cli/local_run.py``. Nothing imports this module but ``flowctl/cli``
modules.
"""
from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import click

from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, emit, pass_ctx
from flowctl.cli.dags_cmd import dags_group
from flowctl.cli.json_values import parse_json_object
from flowctl.core import timezones
from flowctl.core.states import DagRunState

RUN_COLUMNS = ["dag_id", "run_id", "state", "run_type", "logical_date", "start_date", "end_date"]


# --- shared helpers (tasks_ops_cmd imports these) ------------------------------------------------

def utcnow() -> datetime:
    """The one clock of a CLI command (read at the outermost level only)."""
    return datetime.now(timezone.utc)


def parse_moment(text: str, ctx: CliContext) -> datetime:
    """An ISO date or date-time; a naive one is in ``[core] default_timezone``."""
    try:
        return timezones.parse_moment(text, _default_tz(ctx))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _default_tz(ctx: CliContext) -> Any:
    name = ctx.settings.default_timezone or "utc"  # system: this machine's zone, by name
    if name.lower() == "utc":
        return timezone.utc
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def audit(ctx: CliContext, event: str, *, dag_id: str | None = None, run_id: str | None = None,
          task_id: str | None = None, extra: Mapping[str, Any] | None = None) -> None:
    """One audit row for a CLI action."""
    ctx.store.audit(event, now=utcnow(), source="cli", owner=_user(), dag_id=dag_id, run_id=run_id,
                    task_id=task_id, extra=extra)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def notify(ctx: CliContext, reason: str) -> None:
    """Wake the scheduler (a no-op until the store can)."""
    wake: Callable[[str], None] | None = getattr(ctx.store, "notify_scheduler", None)
    if wake is not None:
        wake(reason)


def confirm_or_abort(question: str, yes: bool) -> None:
    """Ask unless ``--yes``; abort (exit 1) on no."""
    if not yes:
        click.confirm(question, abort=True)


def run_row(run: Any) -> dict[str, Any]:
    """A run as a table/JSON row (``execution_date``: Airflow 2's name of ``logical_date``, for its scripts)."""
    return {"dag_id": run.dag_id, "run_id": run.run_id, "state": run.state, "run_type": run.run_type,
            "logical_date": run.logical_date.isoformat(), "execution_date": run.logical_date.isoformat(),
            "start_date": _iso(run.start_date),
            "end_date": _iso(run.end_date), "conf": dict(run.conf)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- trigger, pause, state, list-runs ----------------------------------------------------------

def parse_conf(text: str | None) -> dict[str, Any] | None:
    """A ``--conf`` value as a JSON object (None when not given); BadParameter says what is wrong."""
    return None if text is None else parse_json_object(text, "--conf")


@dags_group.command("trigger")
@click.argument("dag_id")
@click.option("--conf", "-c", "conf_text", default=None, help="JSON object of run conf (checked against params).")
@click.option("--run-id", "-r", default=None, help="Run id (default manual__<logical date>).")
@click.option("--logical-date", "-e", "--exec-date", "logical_date", default=None,
              help="Logical date of the run (default: now).")
@OUTPUT_OPTION
@pass_ctx
def dags_trigger(ctx: CliContext, dag_id: str, conf_text: str | None, run_id: str | None,
                 logical_date: str | None, output: str) -> None:
    """Create a manual run; the scheduler starts it (even while the DAG is paused, by default)."""
    conf = parse_conf(conf_text)
    when = parse_moment(logical_date, ctx) if logical_date else None
    run = ctx.store.trigger_dag(dag_id, now=utcnow(), run_id=run_id, logical_date=when, conf=conf)
    audit(ctx, "cli_dags_trigger", dag_id=dag_id, run_id=run.run_id, extra={"conf": conf or {}})
    notify(ctx, f"trigger {dag_id}")
    if output in DATA_OUTPUTS:
        emit([run_row(run)], output)
        return
    click.echo(f"Created run {run.run_id} of DAG {dag_id} (state: {run.state}, "
               f"logical date {run.logical_date.isoformat()})")
    _warn_if_paused(ctx, dag_id)


def _warn_if_paused(ctx: CliContext, dag_id: str) -> None:
    if ctx.store.get_dag(dag_id).is_paused and not ctx.settings.get("scheduler", "run_manual_when_paused"):
        click.echo(f"Note: DAG {dag_id} is paused and [scheduler] run_manual_when_paused is off: "
                   f"the run waits until `flowctl dags unpause {dag_id}`.", err=True)


def _set_paused(ctx: CliContext, dag_id: str, paused: str) -> None:
    is_paused = paused == "paused"
    ctx.store.set_paused(dag_id, is_paused)
    audit(ctx, "cli_dags_pause" if is_paused else "cli_dags_unpause", dag_id=dag_id)
    if not is_paused:
        notify(ctx, f"unpause {dag_id}")
    click.echo(f"Dag: {dag_id}, paused: {is_paused}")


@dags_group.command("pause")
@click.argument("dag_id")
@pass_ctx
def dags_pause(ctx: CliContext, dag_id: str) -> None:
    """Pause a DAG: the scheduler creates no scheduled runs for it."""
    _set_paused(ctx, dag_id, "paused")


@dags_group.command("unpause")
@click.argument("dag_id")
@pass_ctx
def dags_unpause(ctx: CliContext, dag_id: str) -> None:
    """Unpause a DAG."""
    _set_paused(ctx, dag_id, "unpaused")


@dags_group.command("state")
@click.argument("dag_id")
@click.argument("run_ref", metavar="EXECUTION_DATE_OR_RUN_ID")
@pass_ctx
def dags_state(ctx: CliContext, dag_id: str, run_ref: str) -> None:
    """Print a run's state alone on the last line (for scripts).

    The run is named by its run id or by its logical date (an ISO date or date-time; naive ones are in
    [core] default_timezone).
    """
    from flowctl.cli.run_ref import resolve_run  # it imports this module's parse_moment

    run = resolve_run(ctx, dag_id, run_ref)
    if run.conf:
        click.echo(f"conf: {json.dumps(dict(run.conf), default=str)}")
    click.echo(run.state)


@dags_group.command("list-runs")
@click.argument("dag_id", required=False)
@click.option("--dag-id", "-d", "dag_id_option", default=None, help="The DAG, as Airflow 2 spells it.")
@click.option("--state", type=click.Choice([s.value for s in DagRunState]), default=None)
@click.option("--start-date", "-s", default=None, help="Runs with a logical date on or after this.")
@click.option("--end-date", "-e", default=None, help="Runs with a logical date on or before this.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@OUTPUT_OPTION
@pass_ctx
def dags_list_runs(ctx: CliContext, dag_id: str | None, dag_id_option: str | None, state: str | None,
                   start_date: str | None, end_date: str | None, limit: int, output: str) -> None:
    """List a DAG's runs, newest first (the newest --limit; stderr says when more exist)."""
    chosen = dag_id or dag_id_option
    if chosen is None or (dag_id and dag_id_option):
        raise click.UsageError("give the DAG as DAG_ID or as --dag-id/-d (one of them)")
    ctx.store.get_dag(chosen)  # names an unknown DAG instead of printing an empty table
    runs = ctx.store.list_runs(chosen, state=state, limit=limit + 1,
                               since=parse_moment(start_date, ctx) if start_date else None,
                               until=parse_moment(end_date, ctx) if end_date else None)
    emit([run_row(r) for r in runs[:limit]], output, RUN_COLUMNS)
    if len(runs) > limit:
        click.echo(f"flowctl: only the newest {limit} runs are listed; more match (raise --limit)", err=True)


# --- delete, next-execution, kill-runs ---------------------------------------------------------

@dags_group.command("delete")
@click.argument("dag_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def dags_delete(ctx: CliContext, dag_id: str, yes: bool) -> None:
    """Delete a DAG's rows and history (runs, task instances, XCom); the audit log stays."""
    confirm_or_abort(f"Delete every record of DAG {dag_id} (runs, task instances, XCom)?", yes)
    counts = ctx.store.delete_dag(dag_id)
    audit(ctx, "cli_dags_delete", dag_id=dag_id, extra=counts)
    total = sum(counts.values())
    click.echo(f"Deleted {total} row(s) of DAG {dag_id} "
               f"({counts.get('dag_run', 0)} run(s), {counts.get('task_instance', 0)} task instance(s)). "
               "It comes back at its next parse while its file exists.")


@dags_group.command("next-execution")
@click.argument("dag_id")
@click.option("--num-executions", "-n", default=1, show_default=True, type=click.IntRange(min=1),
              help="How many next logical dates to print.")
@click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
              help="File or folder to parse instead of [core] dags_folder.")
@pass_ctx
def dags_next_execution(ctx: CliContext, dag_id: str, num_executions: int, subdir: str | None) -> None:
    """Print the logical date(s) of the DAG's next scheduled run(s), or None (its file is parsed now)."""
    from flowctl.cli.dag_source import parse_dag
    from flowctl.core.errors import DagNotFound
    from flowctl.db.operations import next_dagrun_infos

    serialized = parse_dag(ctx, dag_id, subdir).data
    try:
        if ctx.store.get_dag(dag_id).is_paused:
            click.echo(f"Note: DAG {dag_id} is paused now.", err=True)
    except DagNotFound:
        pass  # no scheduler has stored it yet: it has no runs either
    last = _last_automated_interval(ctx, dag_id)
    infos = next_dagrun_infos(serialized, last, num_executions, utcnow())
    for info in infos:
        click.echo(info.logical_date.isoformat())
    if not infos:
        click.echo("None")


def _last_automated_interval(ctx: CliContext, dag_id: str) -> Any:
    from flowctl.core.timetables import DataInterval

    for run in ctx.store.list_runs(dag_id, limit=50):
        if run.run_type in ("scheduled", "backfill") and run.data_interval_start and run.data_interval_end:
            return DataInterval(run.data_interval_start, run.data_interval_end)
    return None


@dags_group.command("kill-runs")
@click.argument("dag_id")
@click.option("--state", "states", multiple=True, type=click.Choice(["queued", "running"]),
              default=("running",), show_default=True, help="Kill runs in this state (repeatable).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def dags_kill_runs(ctx: CliContext, dag_id: str, states: tuple[str, ...], yes: bool) -> None:
    """Fail a DAG's runs at once: running tries are terminated, waiting tasks skipped."""
    runs = [r for st in states for r in ctx.store.list_runs(dag_id, state=st, limit=100_000)]
    if not runs:
        ctx.store.get_dag(dag_id)
        click.echo(f"No {' or '.join(states)} runs of DAG {dag_id}.")
        return
    for run in runs:
        click.echo(f"  {run.run_id} ({run.state})")
    confirm_or_abort(f"Kill these {len(runs)} run(s)?", yes)
    report = ctx.store.kill_runs(dag_id, states, utcnow(), run_ids=[r.run_id for r in runs])
    audit(ctx, "cli_dags_kill_runs", dag_id=dag_id,
          extra={"runs": [k.run_id for k in report.runs], "killed_tasks": len(report.killed)})
    click.echo(f"Killed {len(report.runs)} run(s); {len(report.killed)} running task(s) asked to stop.")


# --- test --------------------------------------------------------------------------------------

@dags_group.command("test")
@click.argument("dag_id")
@click.argument("logical_date", required=False)
@click.option("--conf", "-c", "conf_text", default=None, help="JSON object of run conf.")
@pass_ctx
def dags_test(ctx: CliContext, dag_id: str, logical_date: str | None, conf_text: str | None) -> int:
    """Run a whole DAG once in this process, printing task states as they change; exit 1 if it failed."""
    from flowctl.cli.local_run import test_dag

    when = parse_moment(logical_date, ctx) if logical_date else utcnow()
    state = test_dag(ctx, dag_id, when, parse_conf(conf_text))
    audit(ctx, "cli_dags_test", dag_id=dag_id, extra={"logical_date": when.isoformat(), "state": state})
    click.echo(f"Run of {dag_id} at {when.isoformat()}: {state}")
    return 0 if state == DagRunState.SUCCESS.value else 1
