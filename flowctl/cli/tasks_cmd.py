"""``flowctl tasks run | test | render``: the ``tasks_group`` and the commands that run a task.

``tasks run`` runs one try in this process (what the sequential executor
starts; also a person's way to run a task by hand); ``tasks test`` runs a task
without recording anything and prints its log; ``tasks render`` prints its
rendered template fields. Other modules add ``tasks`` sub-commands to
``tasks_group``. Nothing imports this module but ``flowctl/cli`` modules.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.core.errors import DagNotFound, FlowctlError
from flowctl.core.keys import TaskInstanceKey

#: States a person may run a task from with ``tasks run``: it is queued first.
RUNNABLE_BY_HAND = {"pending": ["scheduled", "queued"], "scheduled": ["queued"],
                    "up_for_retry": ["scheduled", "queued"], "up_for_reschedule": ["scheduled", "queued"]}


@cli.group("tasks")
def tasks_group() -> None:
    """Run, test and inspect task instances."""


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time (e.g. 2024-01-31)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _queue_by_hand(ctx: CliContext, key: TaskInstanceKey) -> int:
    """Make sure ``key`` is queued (a person asked to run it); its try_number as queued."""
    ti = ctx.store.get_task_instance(key)
    if ti.state != "queued":
        steps = RUNNABLE_BY_HAND.get(ti.state)
        if steps is None:
            raise FlowctlError(f"{key} is {ti.state}; clear it first (flowctl tasks clear) to run it again")
        state = ti.state
        for step in steps:
            if not ctx.store.set_task_state(key, state, step, queued_at=datetime.now(timezone.utc)):
                raise FlowctlError(f"{key} changed state while being queued; try again")
            state = step
    return int(ctx.store.get_task_instance(key).try_number)


@tasks_group.command("run")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@click.option("--map-index", type=int, default=-1, show_default=True, help="Map index of a mapped task.")
@click.option("--try-number", type=int, default=None, hidden=True, help="The try_number it was queued with.")
@click.option("--fileloc", default=None, hidden=True, help="The DAG file (default: from the database).")
@pass_ctx
def tasks_run(ctx: CliContext, dag_id: str, task_id: str, run_id: str, map_index: int,
              try_number: int | None, fileloc: str | None) -> None:
    """Run one try of a task instance in this process and record its state."""
    from flowctl.executors.base import Workload
    from flowctl.task_runner import run_workload

    key = TaskInstanceKey(dag_id, run_id, task_id, map_index)
    if fileloc is None:
        fileloc = ctx.store.get_dag(dag_id).fileloc
        if not fileloc:
            raise DagNotFound(f"DAG {dag_id!r} has no known file; run `flowctl dags list` to parse the folder")
    if try_number is None:
        try_number = _queue_by_hand(ctx, key)
    result = run_workload(Workload(key, try_number, fileloc), ctx.settings, ctx.store)
    if not result.ran:
        click.echo(f"{key}: try {result.try_number} was already claimed by another worker; nothing to do")
        return
    click.echo(f"{key}: try {result.try_number} -> {result.state or 'changed by someone else'}"
               f"{f' ({result.error})' if result.error else ''}; log: {result.log_path}")


def _load_dag(ctx: CliContext, dag_id: str, subdir: str | None) -> Any:
    from flowctl.dag_processing.dagbag import DagBag

    bag = DagBag(Path(subdir) if subdir else None, settings=ctx.settings)
    dag = bag.get_dag(dag_id)
    if dag is None:
        errors = "; ".join(f"{path}: {err.strip().splitlines()[-1]}" for path, err in bag.import_errors.items())
        raise DagNotFound(f"DAG {dag_id!r} not found in {bag.dag_folder}" + (f" (import errors: {errors})" if errors else ""))
    return dag


def _store_or_none(ctx: CliContext) -> Any:
    try:
        return ctx.store
    except Exception:  # noqa: BLE001 - test and render work without a database
        return None


SUBDIR = click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
                      help="File or folder to load instead of [core] dags_folder.")
MAP_INDEX = click.option("--map-index", type=int, default=-1, show_default=True, help="Map index of a mapped task.")
PARAMS = click.option("--task-params", "-t", default=None, help="JSON conf for the run (what params see).")


@tasks_group.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@SUBDIR
@MAP_INDEX
@PARAMS
@pass_ctx
def tasks_test(ctx: CliContext, dag_id: str, task_id: str, logical_date: str | None, subdir: str | None,
               map_index: int, task_params: str | None) -> None:
    """Run one task in this process without recording anything; print its log."""
    from flowctl.task_runner import adhoc_run_info, run_for_test

    dag = _load_dag(ctx, dag_id, subdir)
    run = adhoc_run_info(_moment(logical_date), conf=json.loads(task_params) if task_params else None, dag=dag)
    result = run_for_test(dag, task_id, run, _store_or_none(ctx), map_index=map_index, log_stream=sys.stdout)
    if result.state not in ("success", "skipped"):
        raise FlowctlError(f"task {task_id!r} ended {result.state}: {result.error}")


@tasks_group.command("render")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@SUBDIR
@MAP_INDEX
@PARAMS
@pass_ctx
def tasks_render(ctx: CliContext, dag_id: str, task_id: str, logical_date: str | None, subdir: str | None,
                 map_index: int, task_params: str | None) -> None:
    """Print a task's template fields rendered for a logical date."""
    from flowctl.task_runner import adhoc_run_info, render_for_test

    dag = _load_dag(ctx, dag_id, subdir)
    run = adhoc_run_info(_moment(logical_date), conf=json.loads(task_params) if task_params else None, dag=dag)
    rendered = render_for_test(dag, task_id, run, _store_or_none(ctx), map_index=map_index)
    for name, value in rendered.items():
        click.echo(f"# ----------------------------------------------------------\n# property: {name}\n"
                   f"# ----------------------------------------------------------\n{value}\n")
