"""``flowctl tasks clear | state | states-for-dag-run | list | failed-deps``: acting on and explaining task
instances.

Added to the ``tasks`` group of ``flowctl/cli/tasks_cmd.py``. ``clear`` goes
through the Store's operation verbs (audited, wakes the scheduler);
``failed-deps`` asks the pure planner's ``explain`` about a run built from
the database. Nothing imports this module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import re
from typing import Any

import click

from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, emit, pass_ctx
from flowctl.cli.run_cmd import audit, parse_moment, utcnow
from flowctl.cli.run_ref import METAVAR, resolve_run
from flowctl.cli.tasks_cmd import tasks_group
from flowctl.core.errors import DagNotFound, TaskNotFound
from flowctl.core.keys import TaskInstanceKey


@tasks_group.command("clear")
@click.argument("dag_id")
@click.option("--task-regex", "-t", default=None, callback=lambda c, p, v: _checked_regex(v, "'--task-regex' / '-t'"),
              help="Clear the tasks whose id matches (re.search).")
@click.option("--upstream", "-u", is_flag=True, help="Also clear the matched tasks' upstream tasks.")
@click.option("--downstream", "-d", is_flag=True, help="Also clear the matched tasks' downstream tasks.")
@click.option("--only-failed", "-f", is_flag=True, help="Only failed and upstream_failed task instances.")
@click.option("--only-running", "-r", is_flag=True, help="Only running task instances (with -f: either).")
@click.option("--start-date", "-s", default=None, help="Runs with a logical date on or after this.")
@click.option("--end-date", "-e", default=None, help="Runs with a logical date on or before this.")
@click.option("--run-id", "-i", default=None, help="Only this run.")
@click.option("--dag-regex", "-R", is_flag=True, help="DAG_ID is a regular expression: clear every DAG it matches.")
@click.option("--exclude-subdags", "-x", is_flag=True, expose_value=False,
              help="Accepted for Airflow's scripts; flowctl has no SubDAGs.")
@click.option("--exclude-parentdag", "-X", is_flag=True, expose_value=False,
              help="Accepted for Airflow's scripts; flowctl has no SubDAGs.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def tasks_clear(ctx: CliContext, dag_id: str, task_regex: str | None, upstream: bool, downstream: bool,
                only_failed: bool, only_running: bool, start_date: str | None, end_date: str | None,
                run_id: str | None, dag_regex: bool, yes: bool) -> None:
    """Clear task instances so the scheduler runs them again (tries are kept, retries renewed)."""
    from flowctl.db.operations import ClearSpec

    dag_ids = _dags_to_clear(ctx, dag_id, dag_regex)
    spec = ClearSpec(task_regex=task_regex, upstream=upstream, downstream=downstream, only_failed=only_failed,
                     only_running=only_running, start_date=parse_moment(start_date, ctx) if start_date else None,
                     end_date=parse_moment(end_date, ctx) if end_date else None, run_id=run_id)
    tis = [ti for one in dag_ids for ti in ctx.store.task_instances_to_clear(one, spec)]
    if not tis:
        click.echo("No task instances to clear.")
        return
    for ti in tis:
        dag = f"{ti.dag_id}  " if dag_regex else ""
        click.echo(f"  {dag}{ti.run_id}  {ti.task_id}{_index(ti.map_index)}  ({ti.state})")
    if not yes and not click.confirm(f"Clear these {len(tis)} task instance(s)?"):
        click.echo("Cancelled, nothing was cleared.")  # and exit 0, as Airflow 2's
        return
    report = ctx.store.clear_task_instances([t.key for t in tis], utcnow())
    for one in sorted({t.dag_id for t in tis}):
        audit(ctx, "cli_tasks_clear", dag_id=one,
              extra={"task_regex": task_regex, "cleared": sum(k.dag_id == one for k in report.task_instances),
                     "runs": sum(k.dag_id == one for k in report.runs)})
    click.echo(f"Cleared {len(report.task_instances)} task instance(s); {len(report.runs)} run(s) queued again.")


def _dags_to_clear(ctx: CliContext, dag_id: str, dag_regex: bool) -> list[str]:
    """``[dag_id]`` (which must exist), or with ``--dag-regex`` every DAG whose id it matches (re.search)."""
    if not dag_regex:
        ctx.store.get_dag(dag_id)
        return [dag_id]
    pattern = re.compile(_checked_regex(dag_id, "'DAG_ID' (with --dag-regex)") or "")
    found = sorted(dag.dag_id for dag in ctx.store.list_dags() if pattern.search(dag.dag_id))
    if not found:
        raise DagNotFound(f"no DAG matches {dag_id!r} (--dag-regex)")
    return found


def _checked_regex(text: str | None, hint: str) -> str | None:
    if text is not None:
        try:
            re.compile(text)
        except re.error as exc:
            raise click.BadParameter(f"{text!r} is not a valid regular expression: {exc}", param_hint=hint) from None
    return text


def _index(map_index: int) -> str:
    return f"[{map_index}]" if map_index >= 0 else ""


@tasks_group.command("state")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_ref", metavar=METAVAR)
@click.option("--map-index", default=-1, show_default=True, type=int)
@pass_ctx
def tasks_state(ctx: CliContext, dag_id: str, task_id: str, run_ref: str, map_index: int) -> None:
    """Print a task instance's state alone on the last line (for scripts); the run by run id or logical date."""
    run = resolve_run(ctx, dag_id, run_ref)
    try:
        ti = ctx.store.get_task_instance(TaskInstanceKey(dag_id, run.run_id, task_id, map_index))
    except LookupError as exc:
        indexes = sorted(t.map_index for t in ctx.store.list_task_instances(run.key) if t.task_id == task_id)
        if map_index != -1 or not indexes:
            raise
        raise TaskNotFound(f"{exc}: {task_id} is mapped: give --map-index ({indexes[0]} to {indexes[-1]})") from exc
    click.echo(ti.state)


@tasks_group.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("run_ref", metavar=METAVAR)
@OUTPUT_OPTION
@pass_ctx
def tasks_states_for_dag_run(ctx: CliContext, dag_id: str, run_ref: str, output: str) -> None:
    """The state of every task instance of one run (by run id or logical date), as Airflow 2's command."""
    run = resolve_run(ctx, dag_id, run_ref)
    rows = [{"dag_id": ti.dag_id, "run_id": ti.run_id, "execution_date": run.logical_date.isoformat(),
             "task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
             "start_date": _iso(ti.start_date), "end_date": _iso(ti.end_date)}
            for ti in sorted(ctx.store.list_task_instances(run.key), key=lambda t: (t.task_id, t.map_index))]
    emit(rows, output, ["dag_id", "execution_date", "task_id", "map_index", "state", "start_date", "end_date"])


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


@tasks_group.command("list")
@click.argument("dag_id")
@click.option("--tree", "-t", is_flag=True, help="Print the tasks as a tree, by task group.")
@click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
              help="File or folder to parse instead of [core] dags_folder.")
@OUTPUT_OPTION
@pass_ctx
def tasks_list(ctx: CliContext, dag_id: str, tree: bool, subdir: str | None, output: str) -> None:
    """List a DAG's tasks as its file defines them now (the file is parsed; no scheduler needed)."""
    from flowctl.cli.dag_source import parse_dag
    from flowctl.dag_processing.rendering import topological_task_ids, tree_text

    data = dict(parse_dag(ctx, dag_id, subdir).data)
    if tree:
        click.echo(tree_text(data))
        return
    tasks = {t["task_id"]: t for t in data.get("tasks") or ()}
    rows = [{"task_id": t, "operator": tasks[t].get("task_type"),
             "upstream": sorted(tasks[t].get("upstream_task_ids") or [])} for t in topological_task_ids(data)]
    if output in DATA_OUTPUTS:
        emit(rows, output)
        return
    for row in sorted(rows, key=lambda r: r["task_id"]):
        click.echo(row["task_id"])


@tasks_group.command("failed-deps")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_ref", metavar=METAVAR)
@pass_ctx
def tasks_failed_deps(ctx: CliContext, dag_id: str, task_id: str, run_ref: str) -> int:
    """Say why a task instance is not running (upstream states vs trigger rule, past runs, pools, pause).

    The run is named by its run id or by its logical date.
    """
    from flowctl.core.planner import explain

    run = resolve_run(ctx, dag_id, run_ref)
    run_id = run.run_id
    view = run_view(ctx.store, run, task_id)
    if task_id not in view.graph.tasks:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r} (run {run_id!r})")
    waits = deferral_lines(ctx.store, run.key, task_id)
    if waits:
        click.echo(f"{dag_id}.{task_id} in run {run_id} is not running because:")
        for line in waits:
            click.echo(f"  - {line}")
        return 0
    queued = queue_lines(ctx.store, run.key, task_id, str(ctx.settings.get("core", "executor")))
    reasons = [*poke_lines(ctx.store, run.key, task_id), *queued, *explain(view, task_id, utcnow())]
    said_better = (" is up_for_reschedule", " is queued") if queued else (" is up_for_reschedule",)
    reasons = [r for r in reasons if not r.endswith(said_better)]  # by poke_lines, queue_lines
    if not reasons:
        click.echo(f"Nothing holds {dag_id}.{task_id} in run {run_id}: it can run.")
        return 0
    click.echo(f"{dag_id}.{task_id} in run {run_id} is not running because:")
    for reason in reasons:
        click.echo(f"  - {reason}")
    return 0


def deferral_lines(store: Any, run: Any, task_id: str) -> list[str]:
    """What each deferred task instance of ``task_id`` in ``run`` waits for (its trigger), one line each."""
    from flowctl.core.deferral import describe_wait

    lines = []
    for ti in store.list_task_instances(run, "deferred"):
        deferral = store.deferral_of(ti.key) if ti.task_id == task_id else None
        if deferral is not None:
            where = f"[{ti.map_index}] " if ti.map_index >= 0 else ""
            lines.append(where + describe_wait(deferral.classpath, deferral.next_method, deferral.trigger_timeout,
                                               deferral.triggerer_id is not None))
    return lines


def poke_lines(store: Any, run: Any, task_id: str) -> list[str]:
    """For each task instance of ``task_id`` waiting between pokes (a sensor in reschedule mode): how
    many pokes its try made and when the next is due."""
    lines = []
    for ti in store.list_task_instances(run, "up_for_reschedule"):
        if ti.task_id != task_id:
            continue
        label = f"{task_id}[{ti.map_index}]" if ti.map_index >= 0 else task_id
        _, pokes = store.reschedule_history(ti.key, ti.try_number)
        due = ti.reschedule_date.isoformat() if ti.reschedule_date is not None else "unknown"
        lines.append(f"{label} is a sensor between pokes (reschedule mode): {pokes} poke"
                     f"{'' if pokes == 1 else 's'} so far in try {ti.try_number}, the next at {due}; "
                     f"its log says what the last poke saw")
    return lines


def queue_lines(store: Any, run: Any, task_id: str, executor: str) -> list[str]:
    """For each queued task instance of ``task_id`` (handed to the executor, not started): its queue and
    since when; with Celery, the worker it needs (a queue no worker listens to keeps it queued)."""
    lines = []
    for ti in store.list_task_instances(run, "queued"):
        if ti.task_id != task_id:
            continue
        label = f"{task_id}[{ti.map_index}]" if ti.map_index >= 0 else task_id
        since = f" since {ti.queued_at.isoformat()}" if ti.queued_at is not None else ""
        taker = (f"a Celery worker listening to {ti.queue!r} starts it (flowctl celery worker -q {ti.queue})"
                 if executor == "celery" else "it starts as soon as the executor has a free slot")
        lines.append(f"{label} is queued on queue {ti.queue!r}{since}: the executor has it; {taker}")
    return lines


def run_view(store: Any, run: Any, task_id: str) -> Any:
    """The planner's view of ``run``, built from the database (with the task's pool and DAG capacity)."""
    from flowctl.core.planner import Capacity, RunView, task_graph

    dag_id = run.dag_id
    serialized = (store.get_serialized_dag(run.serialized_dag_id) if run.serialized_dag_id
                  else store.latest_serialized_dag(dag_id))
    graph = task_graph(serialized.data)
    tis = store.list_task_instances(run.key)
    states = {(t.task_id, t.map_index): t.state for t in tis}
    own = [t for t in tis if t.task_id == task_id]
    pools = {t.pool for t in own}
    usage = store.pool_usage()
    earlier = [r for r in store.list_runs(dag_id, limit=1000) if r.logical_date < run.logical_date]
    previous = ({(t.task_id, t.map_index): t.state for t in store.list_task_instances(earlier[0].key)}
                if earlier else None)
    return RunView(key=run.key, graph=graph, states=states, run_state=run.state, start_date=run.start_date,
                   previous=previous, dag_paused=store.get_dag(dag_id).is_paused, starts_at=_starts_at(run),
                   capacity=Capacity(pool_free=_pool_free(usage, pools), dag_free=_dag_free(store, dag_id, graph),
                                     pool_sizes={u.pool: u.slots for u in usage},
                                     needs=(own[0].pool, int(own[0].pool_slots or 1)) if own else None))


def _starts_at(run: Any) -> Any:
    """A queued manual run's logical date, which it waits for (None for other runs)."""
    return run.logical_date if run.state == "queued" and run.run_type == "manual" else None


def _pool_free(usage: list[Any], pools: set[str]) -> dict[str, int]:
    return {u.pool: u.open_slots for u in usage if u.open_slots is not None and u.pool in pools}


def _dag_free(store: Any, dag_id: str, graph: Any) -> int | None:
    if not graph.max_active_tasks:
        return None
    active = sum(len(store.list_task_instances(r.key, state=st))
                 for r in store.list_runs(dag_id, state="running", limit=1000) for st in ("queued", "running"))
    return int(graph.max_active_tasks) - active

