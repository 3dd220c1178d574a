"""``flowctl tasks run | test | render``: the ``tasks_group`` and the commands that run a task.

``tasks run`` runs one try in this process (what the sequential executor
starts; also a person's way to run a task by hand); ``tasks test`` runs a task
without recording anything and prints its log; ``tasks render`` prints its
rendered template fields. Each names its run by run id or logical date
(``flowctl/cli/run_ref.py``); test and render, given a date at which no run
exists, make one up. Other modules add ``tasks`` sub-commands to ``tasks_group``.
Nothing imports this module but ``flowctl/cli`` modules.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.cli.json_values import parse_json_object
from flowctl.cli.run_ref import METAVAR, date_or_none, find_run, resolve_run, run_at
from flowctl.core.errors import DagNotFound, DagRunNotFound, FlowctlError
from flowctl.core.keys import TaskInstanceKey

#: States a person may run a task from with ``tasks run``: it is queued first.
RUNNABLE_BY_HAND = {"pending": ["scheduled", "queued"], "scheduled": ["queued"],
                    "up_for_retry": ["scheduled", "queued"], "up_for_reschedule": ["scheduled", "queued"]}


@cli.group("tasks")
def tasks_group() -> None:
    """Run, test and inspect task instances."""


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
@click.argument("run_ref", metavar=METAVAR)
@click.option("--map-index", type=int, default=-1, show_default=True, help="Map index of a mapped task.")
@click.option("--try-number", type=int, default=None, hidden=True, help="The try_number it was queued with.")
@click.option("--fileloc", default=None, hidden=True, help="The DAG file (default: from the database).")
@click.option("--ignore-dependencies", "-i", "ignore_dependencies", is_flag=True,
              help="Run it even if its upstream tasks (trigger rule) or depends_on_past do not allow it yet.")
@click.option("--ignore-all-dependencies", "-A", "ignore_dependencies", is_flag=True, hidden=True,
              help="Airflow 2's name: the same as --ignore-dependencies here.")
@click.option("--ignore-depends-on-past", "-I", is_flag=True,
              help="Run it even if depends_on_past / wait_for_downstream do not allow it yet.")
@pass_ctx
def tasks_run(ctx: CliContext, dag_id: str, task_id: str, run_ref: str, map_index: int,
              try_number: int | None, fileloc: str | None, ignore_dependencies: bool,
              ignore_depends_on_past: bool) -> None:
    """Run one try of a task instance in this process and record its state.

    The run is named by its run id or by its logical date. As Airflow's, a task whose trigger rule
    or depends_on_past does not allow it yet is refused (with the reasons) unless -i / -I says so.
    """
    from flowctl.executors.base import Workload
    from flowctl.task_runner import run_workload

    # With --try-number the caller is an executor passing the exact run id: no lookup per try.
    run = None if try_number is not None else resolve_run(ctx, dag_id, run_ref)
    key = TaskInstanceKey(dag_id, run_ref if run is None else run.run_id, task_id, map_index)
    if fileloc is None:
        fileloc = ctx.store.get_dag(dag_id).fileloc
        if not fileloc:
            raise DagNotFound(f"DAG {dag_id!r} has no known file; run `flowctl dags list` to parse the folder")
    if run is not None:
        ignored = {"upstream", "past"} if ignore_dependencies else {"past"} if ignore_depends_on_past else set()
        _refuse_unmet_dependencies(ctx, run, key, ignored)
        try_number = _queue_by_hand(ctx, key)
    assert try_number is not None
    result = run_workload(Workload(key, try_number, fileloc), ctx.settings, ctx.store)
    if not result.ran:
        click.echo(f"{key}: try {result.try_number} was already claimed by another worker; nothing to do")
        return
    click.echo(f"{key}: try {result.try_number} -> {result.state or 'changed by someone else'}"
               f"{f' ({result.error})' if result.error else ''}; log: {result.log_path}")


def _refuse_unmet_dependencies(ctx: CliContext, run: Any, key: TaskInstanceKey, ignored: set[str]) -> None:
    """Refuse to run a pending task instance by hand whose trigger rule (setups included) or
    depends_on_past does not allow it yet, naming the reasons and the flags that run it anyway."""
    from flowctl.cli.tasks_ops_cmd import run_view
    from flowctl.core.planner import past_blockers, upstream_blockers

    if ignored >= {"upstream", "past"} or ctx.store.get_task_instance(key).state != "pending":
        return
    view = run_view(ctx.store, run, key.task_id)
    spec = view.graph.tasks[key.task_id]
    reasons = [] if "upstream" in ignored else upstream_blockers(view, spec, key.map_index)
    if "past" not in ignored:
        reasons += past_blockers(view, spec, key.map_index)
    if reasons:
        raise FlowctlError(f"{key} cannot run yet: {'; '.join(reasons)}; run it anyway with -i/--ignore-dependencies"
                           " (or -I/--ignore-depends-on-past for depends_on_past alone)")


def _load_dag(ctx: CliContext, dag_id: str, subdir: str | None) -> Any:
    from flowctl.dag_processing.dagbag import DagBag

    bag = DagBag(Path(subdir) if subdir else None, settings=ctx.settings)
    dag = bag.get_dag(dag_id)
    if dag is None:
        errors = "; ".join(f"{path}: {err.strip().splitlines()[-1]}" for path, err in bag.import_errors.items())
        raise DagNotFound(f"DAG {dag_id!r} not found in {bag.dag_folder}" + (f" (import errors: {errors})" if errors else ""))
    return dag


def _check_map_index(dag: Any, task_id: str, map_index: int) -> None:
    """Refuse a --map-index for a task that is not mapped (TaskNotFound for an unknown task)."""
    if map_index != -1 and not getattr(dag.get_task(task_id), "is_mapped", False):
        raise click.BadParameter(f"task {task_id!r} of DAG {dag.dag_id!r} is not mapped "
                                 "(only a mapped task has map indexes)", param_hint="--map-index")


def _store_or_none(ctx: CliContext) -> Any:
    try:
        return ctx.store
    except Exception:  # noqa: BLE001 - test and render work without a database
        return None


SUBDIR = click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
                      help="File or folder to load instead of [core] dags_folder.")
MAP_INDEX = click.option("--map-index", type=int, default=-1, show_default=True, help="Map index of a mapped task.")
PARAMS = click.option("--task-params", "-t", default=None,
                      help="JSON conf for the run (what params see), laid over an existing run's conf.")


def _test_run(ctx: CliContext, dag: Any, run_ref: str | None, task_params: str | None) -> Any:
    """The run ``tasks test`` / ``tasks render`` use: the existing run with run_id ``run_ref``, else the
    existing run at logical date ``run_ref`` (its logical date, data interval, conf and XComs), else a
    manual-looking run at that date (default: now)."""
    from flowctl.task_runner import adhoc_run_info
    from flowctl.task_runner.adhoc import as_run_info

    conf = parse_json_object(task_params, "--task-params") if task_params else {}
    if run_ref is None:
        return adhoc_run_info(datetime.now(timezone.utc), conf=conf, dag=dag)
    when = date_or_none(run_ref, ctx)
    try:
        run = find_run(ctx.store, dag.dag_id, run_ref)
        if run is None and when is not None:  # as Airflow: the run at that logical date, if there is one
            run = run_at(ctx.store, dag.dag_id, when)
    except Exception:  # noqa: BLE001 - no usable database: test and render of a date need none, as before
        if when is None:
            raise
        run = None
    if run is not None:
        info = as_run_info(run, dag.dag_id)
        return replace(info, conf={**info.conf, **conf})
    if when is None:
        raise DagRunNotFound(f"no run of DAG {dag.dag_id!r} with run_id {run_ref!r}, and it is not an ISO date "
                             "or date-time (e.g. 2024-01-31)")
    return adhoc_run_info(when, conf=conf, dag=dag)



@tasks_group.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_ref", metavar=f"[{METAVAR}]", required=False)
@SUBDIR
@MAP_INDEX
@PARAMS
@pass_ctx
def tasks_test(ctx: CliContext, dag_id: str, task_id: str, run_ref: str | None, subdir: str | None,
               map_index: int, task_params: str | None) -> None:
    """Run one task in this process without recording anything; print its log.

    Given the run id or logical date of an existing run, the task sees that run (its logical date, data
    interval, conf, upstream XComs); given another date (default: now), a manual run at that date.
    """
    from flowctl.task_runner import run_for_test

    dag = _load_dag(ctx, dag_id, subdir)
    _check_map_index(dag, task_id, map_index)
    run = _test_run(ctx, dag, run_ref, task_params)
    result = run_for_test(dag, task_id, run, _store_or_none(ctx), map_index=map_index, log_stream=sys.stdout,
                          settings=ctx.settings)
    if result.state == "up_for_reschedule":
        # As Airflow's `tasks test`: one poke, nothing recorded, not a failure.
        click.echo(f"Task {task_id} is up_for_reschedule: the sensor's condition is not met yet")
    elif result.state not in ("success", "skipped"):
        raise FlowctlError(f"task {task_id!r} ended {result.state}: {result.error}")


@tasks_group.command("render")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_ref", metavar=f"[{METAVAR}]", required=False)
@SUBDIR
@MAP_INDEX
@PARAMS
@pass_ctx
def tasks_render(ctx: CliContext, dag_id: str, task_id: str, run_ref: str | None, subdir: str | None,
                 map_index: int, task_params: str | None) -> None:
    """Print a task's template fields rendered for an existing run (by run id or logical date) or a date."""
    from flowctl.task_runner import render_for_test

    dag = _load_dag(ctx, dag_id, subdir)
    _check_map_index(dag, task_id, map_index)
    run = _test_run(ctx, dag, run_ref, task_params)
    rendered = render_for_test(dag, task_id, run, _store_or_none(ctx), map_index=map_index, settings=ctx.settings)
    for name, value in rendered.items():
        click.echo(f"# ----------------------------------------------------------\n# property: {name}\n"
                   f"# ----------------------------------------------------------\n{value}\n")
