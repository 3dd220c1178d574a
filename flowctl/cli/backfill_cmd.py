"""``flowctl dags backfill``: backfill runs for a date range, followed until they finish.

The DAG's file is parsed first and its serialized version stored, as the DAG
processor stores it (``flowctl/cli/dag_source.py``): a backfill needs no
scheduler to have parsed the DAG, and its runs use the DAG as the file
defines it now. The runs themselves are rows the scheduler executes, or, with
``--local``, this process (``flowctl/cli/local_run.py``). Nothing imports this
module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

import click

from flowctl.cli.app import CliContext, pass_ctx
from flowctl.cli.dag_source import parse_dag, store_parsed_dag
from flowctl.cli.dags_cmd import dags_group
from flowctl.cli.run_cmd import audit, confirm_or_abort, notify, parse_conf, parse_moment, utcnow
from flowctl.core.states import RUN_FINISHED, TI_FINISHED, DagRunState, TaskInstanceState

POLL_SECONDS = 0.5
_FINISHED = frozenset(s.value for s in TI_FINISHED)


def _policy(reset_failed: bool, rerun_failed_tasks: bool, reset_dagruns: bool) -> Any:
    from flowctl.db.operations import ExistingRunPolicy

    if reset_failed + rerun_failed_tasks + reset_dagruns > 1:
        raise click.UsageError("--reset-failed, --rerun-failed-tasks and --reset-dagruns exclude each other")
    if reset_dagruns:
        return ExistingRunPolicy.RESET_ALL
    if reset_failed:
        return ExistingRunPolicy.RESET_FAILED
    return ExistingRunPolicy.RERUN_FAILED_TASKS if rerun_failed_tasks else ExistingRunPolicy.KEEP


@dags_group.command("backfill")
@click.argument("dag_id")
@click.option("--start-date", "-s", required=True, help="First logical date (inclusive).")
@click.option("--end-date", "-e", required=True, help="Last logical date (inclusive).")
@click.option("--reset-failed", is_flag=True, help="Re-run every task of existing failed runs.")
@click.option("--rerun-failed-tasks", is_flag=True, help="Re-run the failed tasks of existing failed runs.")
@click.option("--reset-dagruns", is_flag=True,
              help="Re-run every task of every existing run in the range, whatever its state (asks first).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (with --reset-dagruns).")
@click.option("--conf", "-c", "conf_text", default=None,
              help="JSON object of run conf for the runs it creates (checked against params).")
@click.option("--dry-run", is_flag=True, help="Print the runs it would create; change no run.")
@click.option("--local", "-l", is_flag=True, help="Run the tasks in this process; no scheduler needed.")
@click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
              help="File or folder to parse instead of [core] dags_folder.")
@pass_ctx
def dags_backfill(ctx: CliContext, dag_id: str, start_date: str, end_date: str, reset_failed: bool,
                  rerun_failed_tasks: bool, reset_dagruns: bool, yes: bool, conf_text: str | None,
                  dry_run: bool, local: bool, subdir: str | None) -> int:
    """Create (queued) backfill runs for a date range and follow them until they finish.

    The DAG's file is parsed first (no scheduler needs to have parsed it).
    """
    start, end = parse_moment(start_date, ctx), parse_moment(end_date, ctx)
    if end < start:
        raise click.BadParameter("the end date is before the start date", param_hint="--end-date")
    policy, conf = _policy(reset_failed, rerun_failed_tasks, reset_dagruns), parse_conf(conf_text)
    store_parsed_dag(ctx, parse_dag(ctx, dag_id, subdir), utcnow())
    plan = ctx.store.plan_backfill(dag_id, start, end, policy, conf=conf)
    if dry_run or not plan:
        _print_plan(plan, dag_id, start, end)
        return 0
    resets = [item for item in plan if item.action == "reset"]
    if reset_dagruns and resets:
        _print_items(resets)
        confirm_or_abort(f"Re-run every task of these {len(resets)} existing run(s)?", yes)
    keys = ctx.store.apply_backfill(dag_id, plan, utcnow(), conf=conf)
    created = sum(1 for item in plan if item.action == "create")
    audit(ctx, "cli_dags_backfill", dag_id=dag_id,
          extra={"start": start.isoformat(), "end": end.isoformat(), "runs": len(keys), "created": created,
                 "policy": policy.value, "conf": conf or {}})
    notify(ctx, f"backfill {dag_id}")
    click.echo(f"Backfill of {dag_id}: {len(keys)} run(s) ({created} new) from {start.date()} to {end.date()}")
    if local:
        from flowctl.cli.local_run import run_locally

        run_locally(ctx, keys, echo=click.echo)
    elif not scheduler_alive(ctx):
        click.echo("flowctl: no scheduler is running: these runs wait for one (`flowctl scheduler`), or run them "
                   "here with --local", err=True)
    return follow_runs(ctx, keys)


def scheduler_alive(ctx: CliContext) -> bool:
    """Whether a scheduler job heartbeated within [scheduler] scheduler_health_check_threshold."""
    beat = ctx.store.latest_heartbeat("scheduler")
    threshold = float(ctx.settings.get("scheduler", "scheduler_health_check_threshold"))
    return beat is not None and (utcnow() - beat).total_seconds() <= threshold


def _print_plan(plan: list[Any], dag_id: str, start: datetime, end: datetime) -> None:
    if not plan:
        click.echo(f"No runs of DAG {dag_id} have a logical date between {start.isoformat()} and {end.isoformat()}.")
        return
    _print_items(plan)
    click.echo(f"Dry run: {len(plan)} run(s); no run was changed.")


def _print_items(items: list[Any]) -> None:
    for item in items:
        existing = f" (existing run is {item.existing_state})" if item.existing_state else ""
        click.echo(f"{item.logical_date.isoformat()}  {item.run_id}  {item.action}{existing}")


def follow_runs(ctx: CliContext, keys: list[Any]) -> int:
    """Show progress until every run finished (Ctrl-C stops watching); 1 if any failed."""
    last = ""
    try:
        while True:
            runs = ctx.store.runs_by_key(keys)
            done = [r for r in runs if r.state in {s.value for s in RUN_FINISHED}]
            failed = sum(1 for r in done if r.state == DagRunState.FAILED.value)
            line = f"{_bar(len(done), len(keys))} {len(done)}/{len(keys)} runs done, {failed} failed"
            if line != last:
                click.echo(("\r" + line) if sys.stdout.isatty() else line, nl=not sys.stdout.isatty())
                last = line
            if len(done) >= len(runs):
                break
            held = [line for r in runs if r.state == DagRunState.RUNNING.value for line in _held_by_the_past(ctx, r)]
            if held:
                _say_held(held)
                return 1
            time.sleep(POLL_SECONDS)  # the outermost loop of the command: the only place it waits
    except KeyboardInterrupt:
        click.echo("\nStopped watching; the scheduler keeps running the backfill.")
        return 130
    if sys.stdout.isatty():
        click.echo("")
    return 1 if failed else 0


def _held_by_the_past(ctx: CliContext, run: Any) -> list[str]:
    """Why ``run`` can never finish by itself, as Airflow's backfill deadlock: nothing of it is on its
    way, every pending task waits, and depends_on_past / wait_for_downstream hold some back for a
    previous run that has ended (only a person clearing it can move them). Empty: it can go on."""
    from flowctl.cli.tasks_ops_cmd import run_view
    from flowctl.core.planner import past_blockers, upstream_blockers

    tis = ctx.store.list_task_instances(run.key)
    pending = [t for t in tis if t.state == TaskInstanceState.PENDING.value]
    if not pending or any(t.state not in _FINISHED for t in tis if t.state != TaskInstanceState.PENDING.value):
        return []
    view = run_view(ctx.store, run, pending[0].task_id)
    if view.previous is None or any(state not in _FINISHED for state in view.previous.values()):
        return []
    held: list[str] = []
    for ti in pending:
        spec = view.graph.tasks.get(ti.task_id)
        past = past_blockers(view, spec, ti.map_index) if spec is not None else []
        if spec is None or not (past or upstream_blockers(view, spec, ti.map_index)):
            return []  # the scheduler can still start this one
        held += [f"{ti.task_id}: {reason}" for reason in past]
    return [f"run {run.run_id}: {'; '.join(held)}"] if held else []


def _say_held(held: list[str]) -> None:
    if sys.stdout.isatty():
        click.echo("")  # end the progress line
    click.echo("flowctl: the backfill cannot finish (deadlocked): " + " | ".join(held) + ". Clear those "
               "tasks of the previous run (flowctl tasks clear), or re-run the backfill with --rerun-failed-tasks, "
               "or run the held tasks with `flowctl tasks run -I`; the scheduler keeps the other runs going",
               err=True)


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"
