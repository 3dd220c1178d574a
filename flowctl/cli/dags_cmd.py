"""``flowctl dags ...``: the ``dags_group`` and the commands that parse the folder.

list, list-import-errors, show, report, check, details and reserialize parse
the DAG folder with the subprocess processor (user code never runs in the CLI
process); list and details add what the database knows (paused, next run),
reserialize writes the parse to it as the DAG processor does. Other modules
add more ``dags`` sub-commands (trigger, pause, ...) to ``dags_group``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, cli, emit, pass_ctx
from flowctl.core.errors import DagNotFound
from flowctl.dag_processing.processor import ParseResult, parse_folder
from flowctl.dag_processing.rendering import dot_text, tree_text

SUBDIR_OPTION = click.option("--subdir", "-S", default=None, type=click.Path(exists=True),
                             help="File or folder to parse instead of [core] dags_folder.")


@cli.group("dags")
def dags_group() -> None:
    """Inspect and manage DAGs."""


def _parse(ctx: CliContext, subdir: str | None) -> ParseResult:
    return parse_folder(ctx.settings, Path(subdir) if subdir else None)


@dags_group.command("list")
@OUTPUT_OPTION
@SUBDIR_OPTION
@pass_ctx
def dags_list(ctx: CliContext, output: str, subdir: str | None) -> None:
    """List the DAGs of the folder (parsed safely in child processes)."""
    result = _parse(ctx, subdir)
    paused = _paused_flags(ctx)
    rows = [{"dag_id": r.dag_id, "fileloc": r.fileloc, "owners": r.data.get("owner", ""),
             "schedule": _summary(ctx, r.data), "tags": sorted(r.data.get("tags") or []),
             "is_paused": paused.get(r.dag_id)}
            for r in sorted(result.dags, key=lambda r: r.dag_id)]
    emit(rows, output, ["dag_id", "fileloc", "owners", "schedule", "tags", "is_paused"])
    if result.import_errors and output not in DATA_OUTPUTS:
        click.echo(f"({len(result.import_errors)} file(s) failed to import: "
                   "see `flowctl dags list-import-errors`)", err=True)


def _summary(ctx: CliContext, data: dict[str, Any]) -> Any:
    """A parsed DAG's schedule summary as the web UI shows it: a schedule on aliases that resolved
    to no dataset yet is ``Unresolved DatasetAlias`` (the database knows; without one, as parsed)."""
    summary = data.get("timetable_summary")
    if summary != "Dataset":
        return summary
    try:
        return ctx.store.schedule_summary(data)
    except Exception:  # noqa: BLE001 - no database yet (before `flowctl db init`): the folder still lists
        return summary


def _paused_flags(ctx: CliContext) -> dict[str, bool]:
    """dag_id -> is_paused from the database (empty without a usable one: listing the folder needs none)."""
    try:
        return {d.dag_id: d.is_paused for d in ctx.store.list_dags(is_active=None)}
    except Exception:  # noqa: BLE001 - no database yet (before `flowctl db init`): the folder still lists
        return {}


@dags_group.command("list-import-errors")
@OUTPUT_OPTION
@SUBDIR_OPTION
@pass_ctx
def dags_list_import_errors(ctx: CliContext, output: str, subdir: str | None) -> None:
    """List the files that failed to import, with their errors."""
    result = _parse(ctx, subdir)
    rows = [{"filepath": path, "error": error} for path, error in sorted(result.import_errors.items())]
    if output in DATA_OUTPUTS:
        emit(rows, output)
        return
    if not rows:
        click.echo("No import errors.")
    for row in rows:
        click.echo(f"{row['filepath']}\n{row['error'].rstrip()}\n")


@dags_group.command("show")
@click.argument("dag_id")
@click.option("--dot", "as_dot", is_flag=True, help="Print Graphviz DOT instead of a text tree.")
@SUBDIR_OPTION
@pass_ctx
def dags_show(ctx: CliContext, dag_id: str, as_dot: bool, subdir: str | None) -> None:
    """Show a DAG's tasks in topological order, grouped by task group."""
    result = _parse(ctx, subdir)
    found = [r for r in result.dags if r.dag_id == dag_id]
    if not found:
        raise DagNotFound(f"DAG {dag_id!r} not found in {subdir or ctx.settings.dags_folder}")
    click.echo(dot_text(found[0].data) if as_dot else tree_text(found[0].data))


@dags_group.command("report")
@OUTPUT_OPTION
@SUBDIR_OPTION
@pass_ctx
def dags_report(ctx: CliContext, output: str, subdir: str | None) -> None:
    """How long each file took to parse, and how many DAGs and tasks it defines."""
    result = _parse(ctx, subdir)
    rows = []
    for path, seconds in sorted(result.durations.items(), key=lambda kv: -kv[1]):
        dags = result.dags_of_file(path)
        rows.append({"file": path, "duration": f"{seconds:.3f}s", "dag_num": len(dags),
                     "task_num": sum(len(d.data["tasks"]) for d in dags),
                     "dags": [d.dag_id for d in dags], "error": "yes" if path in result.import_errors else ""})
    emit(rows, output, ["file", "duration", "dag_num", "task_num", "dags", "error"])


@dags_group.command("check")
@click.argument("path", required=False, type=click.Path(exists=True))
@pass_ctx
def dags_check(ctx: CliContext, path: str | None) -> int:
    """Parse PATH (default: the dags folder); exit 1 listing the import errors if any."""
    result = _parse(ctx, path)
    for file, error in sorted(result.import_errors.items()):
        click.echo(f"{file}\n{error.rstrip()}\n", err=True)
    files = len(result.durations)
    if result.import_errors:
        click.echo(f"{len(result.import_errors)} of {files} file(s) failed to import", err=True)
        return 1
    click.echo(f"OK: {files} file(s), {len(result.dags)} DAG(s)")
    return 0


DETAIL_KEYS = ("description", "owner", "timetable_summary", "start_date", "end_date", "catchup",
               "max_active_runs", "max_active_tasks", "dagrun_timeout", "tags", "params")


@dags_group.command("details")
@click.argument("dag_id")
@OUTPUT_OPTION
@SUBDIR_OPTION
@pass_ctx
def dags_details(ctx: CliContext, dag_id: str, output: str, subdir: str | None) -> None:
    """Show a DAG's details: from its file (parsed now) and from the database (paused, next run)."""
    from flowctl.cli.dag_source import parse_dag

    parsed = parse_dag(ctx, dag_id, subdir)
    data = parsed.data.get("dag") if isinstance(parsed.data.get("dag"), dict) else parsed.data
    details = {"dag_id": dag_id, "fileloc": parsed.record.fileloc,
               **{key: data.get(key) for key in DETAIL_KEYS}, "timetable_summary": _summary(ctx, data),
               "task_ids": sorted(t["task_id"] for t in data.get("tasks") or ())}
    details.update(_database_details(ctx, dag_id))
    if output in DATA_OUTPUTS:
        emit([details], output)
        return
    emit([{"property": k, "value": v} for k, v in details.items()], output, ["property", "value"])


def _database_details(ctx: CliContext, dag_id: str) -> dict[str, object]:
    """What only the database knows of the DAG (None each when no scheduler has stored it yet)."""
    try:
        dag = ctx.store.get_dag(dag_id)
    except DagNotFound:
        dag = None
    fields = ("is_paused", "is_active", "has_import_errors", "last_parsed_time", "next_dagrun")
    return {f: (getattr(dag, f) if dag is not None else None) for f in fields}


@dags_group.command("reserialize")
@SUBDIR_OPTION
@pass_ctx
def dags_reserialize(ctx: CliContext, subdir: str | None) -> None:
    """Parse the folder now and store every DAG and import error, as the DAG processor does."""
    from datetime import datetime, timezone

    from flowctl.cli.dag_source import store_parse_result

    result = _parse(ctx, subdir)
    count, errors = store_parse_result(ctx, result, datetime.now(timezone.utc))
    click.echo(f"Serialized {count} DAG(s) from {len(result.durations)} file(s); {errors} import error(s)")
