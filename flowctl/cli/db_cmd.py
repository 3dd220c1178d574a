"""``flowctl db init | migrate | upgrade | downgrade | check | reset | shell | clean | export-archived |
drop-archived``: the metadata database.

``db init`` also fills ``[core] fernet_key`` and ``[webserver] secret_key`` in
config.cfg when they are empty (creating the file from the defaults when it
is missing; a value already set is never overwritten) and makes sure
``default_pool`` exists. ``db clean`` asks for the phrase ``delete rows`` unless
``--yes`` (and fails when no one can answer), and copies the rows into archive
tables before deleting them unless ``--skip-archive``. Thin: the work is in
``flowctl.db.migrate`` and the Store.
"""
from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, cli, emit, pass_ctx
from flowctl.cli.files import write_whole
from flowctl.cli.run_cmd import parse_moment, utcnow
from flowctl.core.errors import ConfigError, FlowctlError
from flowctl.settings import OPTIONS, Settings

GENERATED_SECRETS = (("core", "fernet_key"), ("webserver", "secret_key"))


@cli.group("db")
def db_group() -> None:
    """Create, migrate, check and clean the metadata database."""


def default_config_text() -> str:
    """config.cfg with every option at its default, each preceded by its help."""
    lines: list[str] = []
    for opt in OPTIONS:
        if not lines or f"[{opt.section}]" not in lines:
            lines += ["", f"[{opt.section}]"] if lines else [f"[{opt.section}]"]
        lines += [f"# {opt.help}", f"{opt.key} = {opt.default}"]
    return "\n".join(lines) + "\n"


def set_if_empty(text: str, section: str, key: str, value: str) -> str:
    """config text with ``[section] key = value`` when the key is missing or empty there."""
    lines = text.splitlines()
    current, header_at = None, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1].strip().lower()
            header_at = i if current == section else header_at
        elif current == section and "=" in stripped and not stripped.startswith(("#", ";")):
            name, _, old = stripped.partition("=")
            if name.strip().lower() == key:
                if old.strip():
                    return text
                lines[i] = f"{key} = {value}"
                return "\n".join(lines) + "\n"
    if header_at is None:
        lines += ["", f"[{section}]", f"{key} = {value}"]
    else:
        lines.insert(header_at + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _new_secret(section: str) -> str:
    if section == "core":
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")
    return secrets.token_urlsafe(32)


def ensure_config_secrets(settings: Settings) -> list[str]:
    """Write generated secrets into config.cfg where empty; returns the options written."""
    path = settings.config_path
    text = path.read_text(encoding="utf-8") if path.exists() else default_config_text()
    written = []
    for section, key in GENERATED_SECRETS:
        if settings.get(section, key):  # set in the file or the environment: keep it
            continue
        text = set_if_empty(text, section, key, _new_secret(section))
        written.append(f"[{section}] {key}")
    if written or not path.exists():
        write_whole(path, text, mode=0o600)  # its secrets never readable by another user
    return written


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _ensure_default_pool(ctx: CliContext) -> None:
    from flowctl.db.admin import DEFAULT_POOL, DEFAULT_POOL_SLOTS
    from flowctl.core.errors import PoolNotFound

    try:
        ctx.store.get_pool(DEFAULT_POOL)
    except PoolNotFound:
        ctx.store.set_pool(DEFAULT_POOL, DEFAULT_POOL_SLOTS, "Default pool")


@db_group.command("init")
@pass_ctx
def db_init(ctx: CliContext) -> None:
    """Create or upgrade the database, generate missing secrets, ensure default_pool."""
    from flowctl.db import migrate

    for name in ensure_config_secrets(ctx.settings):
        click.echo(f"generated {name} in {ctx.settings.config_path}")
    ctx.__dict__.pop("settings", None)  # reload: the file may have just changed
    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    migrate.upgrade(ctx.store.engine)
    _ensure_default_pool(ctx)
    click.echo(f"database ready at revision {migrate.current(ctx.store.engine)}")


def _revision_option(**kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The target revision option: Airflow 2's -r / --to-revision, and flowctl's --to (which came first)."""
    return click.option("--to-revision", "-r", "--to", "revision", **kwargs)


@db_group.command("upgrade")
@_revision_option(default="head", show_default=True, help="Target revision.")
@pass_ctx
def db_upgrade(ctx: CliContext, revision: str) -> None:
    """Apply migrations up to a revision."""
    from flowctl.db import migrate

    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    _migrate_to(migrate.upgrade, ctx, revision)
    click.echo(f"database at revision {migrate.current(ctx.store.engine)}")


def _migrate_to(step: Callable[[Any, str], None], ctx: CliContext, revision: str) -> None:
    """``step`` (migrate.upgrade or downgrade) to ``revision``; one Alembic cannot reach is bad usage."""
    from flowctl.db.migrate import RevisionError

    try:
        step(ctx.store.engine, revision)
    except RevisionError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-revision") from None


@db_group.command("migrate")
@_revision_option(default="head", show_default=True, help="Target revision.")
@pass_ctx
def db_migrate(ctx: CliContext, revision: str) -> None:
    """Create or migrate the database to a revision and ensure default_pool (Airflow 2.7+'s name for upgrade).

    Unlike `db init` it never writes config.cfg: set [core] fernet_key and [webserver] secret_key yourself.
    """
    from flowctl.db import migrate

    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    _migrate_to(migrate.upgrade, ctx, revision)
    if revision == "head":
        _ensure_default_pool(ctx)
    click.echo(f"database at revision {migrate.current(ctx.store.engine)}")


@db_group.command("downgrade")
@_revision_option(required=True, help="Target revision (base removes every table).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def db_downgrade(ctx: CliContext, revision: str, yes: bool) -> None:
    """Revert migrations down to a revision (may delete data)."""
    from flowctl.db import migrate

    if not yes:
        click.confirm(f"Downgrade the database to {revision}? Data in removed tables is lost", abort=True)
    _migrate_to(migrate.downgrade, ctx, revision)
    click.echo(f"database at revision {migrate.current(ctx.store.engine) or 'base'}")


@db_group.command("check")
@pass_ctx
def db_check(ctx: CliContext) -> int:
    """Check that the database is reachable, migrated to head, and matches the models."""
    from flowctl.db import migrate

    problems = migrate.check(ctx.store.engine)
    if problems:
        raise FlowctlError("; ".join(problems))
    click.echo(f"database OK at revision {migrate.current(ctx.store.engine)}")
    return 0


@db_group.command("reset")
@click.option("--yes", "-y", is_flag=True, help="Really delete every table and its data.")
@pass_ctx
def db_reset(ctx: CliContext, yes: bool) -> None:
    """Drop every flowctl table and recreate an empty database."""
    from flowctl.db import migrate

    if not yes:
        raise click.UsageError("db reset deletes all data; pass --yes to do it")
    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    migrate.downgrade(ctx.store.engine, "base")
    migrate.upgrade(ctx.store.engine)
    _ensure_default_pool(ctx)
    click.echo(f"database reset to revision {migrate.current(ctx.store.engine)}")


@db_group.command("shell")
@pass_ctx
def db_shell(ctx: CliContext) -> int:
    """Open sqlite3 or psql on the metadata database."""
    from sqlalchemy.engine import make_url

    url = make_url(ctx.settings.sql_alchemy_conn)
    backend = url.get_backend_name()
    if backend == "sqlite":
        argv = ["sqlite3", url.database or ":memory:"]
    elif backend == "postgresql":
        argv = ["psql", url.set(drivername="postgresql").render_as_string(hide_password=False)]
    else:
        raise ConfigError(f"db shell supports sqlite and postgresql, not {backend}")
    if shutil.which(argv[0]) is None:
        raise FlowctlError(f"{argv[0]} is not installed (needed by db shell)")
    return subprocess.call(argv)


#: What a person types to let ``db clean`` delete (the phrase Airflow 2 asks for) or drop archives.
CONFIRM_CLEAN = "delete rows"
CONFIRM_DROP = "drop archives"
YES_OPTION = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise click.BadParameter("name at least one table")
    return names


def _clean_tables(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    from flowctl.db.clean import UnknownCleanTable, clean_tables

    try:
        return clean_tables(_names(value))
    except UnknownCleanTable as error:
        raise click.BadParameter(str(error)) from None


def _archived_tables(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    from flowctl.db.clean import ARCHIVED_TABLES

    names = _names(value)
    unknown = sorted(set(names or ()) - set(ARCHIVED_TABLES))
    if unknown:
        raise click.BadParameter(f"unknown table {', '.join(unknown)}: "
                                 f"db clean archives {', '.join(ARCHIVED_TABLES)}")
    return names


def _require_terminal(command: str) -> None:
    """Fail in one line when no one can answer the confirmation (a script, a pipe, cron)."""
    if not sys.stdin.isatty():
        raise click.UsageError(f"{command} asks for confirmation but stdin is not a terminal; "
                               f"pass --yes to go ahead without asking")


def _confirm_phrase(phrase: str) -> None:
    answer = click.prompt(f"Type '{phrase}' to go ahead", default="", show_default=False, err=True)
    if answer.strip() != phrase:
        raise FlowctlError(f"not confirmed (the answer was not '{phrase}'): nothing was changed")


def _clean_plan(cutoff: datetime, tables: tuple[str, ...], archived_at: datetime | None) -> list[str]:
    from flowctl.db.clean_archive import archive_table_name

    lines = [f"db clean is about to delete rows older than {cutoff.isoformat()} from: {', '.join(tables)}",
             "(finished runs by logical date, with their task instances, tries, reschedules and XCom; "
             "audit log rows; ended jobs by last heartbeat)."]
    if archived_at is None:
        lines.append("--skip-archive: no copy is kept, the rows cannot be recovered.")
    else:
        lines.append(f"Each table's rows are first copied into {archive_table_name('<table>', archived_at)} "
                     f"(flowctl db export-archived writes them to CSV).")
    return lines


def _progress(verb: str) -> Callable[[str, int], None]:
    """Print each table's count of each batch (on stderr: stdout holds the report, maybe as JSON)."""
    seen: Counter[str] = Counter()

    def show(table: str, removed: int) -> None:
        seen[table] += removed
        click.echo(f"{table}: {verb} {removed} rows ({seen[table]} so far)", err=True)
    return show


@db_group.command("clean")
@click.option("--clean-before-timestamp", "--older-than", "before", required=True, metavar="TIMESTAMP",
              help="Purge rows older than this ISO date or date-time (naive: in [core] default_timezone). "
                   "--older-than is an alias.")
@click.option("--tables", "-t", "tables", callback=_clean_tables, metavar="T1,T2",
              help="Only these tables (with the rows that go with them; default: all).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted; asks nothing.")
@click.option("--skip-archive", is_flag=True, help="Delete without first copying rows into archive tables.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Rows per transaction [default: 500].")
@click.option("--verbose", "-v", is_flag=True, help="Print each table's count as each batch is done.")
@YES_OPTION
@OUTPUT_OPTION
@pass_ctx
def db_clean(ctx: CliContext, before: str, tables: tuple[str, ...], dry_run: bool, skip_archive: bool,
             batch_size: int | None, verbose: bool, yes: bool, output: str) -> None:
    """Purge old finished runs, their task instances, tries and XCom, old audit rows and ended jobs.

    Rows are copied into _flowctl_deleted__<table>__<YYYYMMDDHHMMSS> tables first (unless
    --skip-archive); asks to type 'delete rows' unless --yes.
    """
    cutoff = parse_moment(before, ctx)  # naive: in [core] default_timezone, as every CLI date
    if dry_run:
        _emit_clean_report(ctx.store.preview_clean(cutoff, tables), "would_delete", output, cutoff, None)
        return
    archived_at = None if skip_archive else utcnow()
    if not yes:
        _require_terminal("db clean")
        for line in _clean_plan(cutoff, tables, archived_at):
            click.echo(line, err=True)
        _confirm_phrase(CONFIRM_CLEAN)
    verb = "deleted" if skip_archive else "archived and deleted"
    progress = _progress(verb) if verbose else None
    if archived_at is None:
        report = ctx.store.clean(cutoff, batch_size, tables=tables, progress=progress)
    else:
        report = ctx.store.clean_with_archive(cutoff, archived_at, batch_size, tables=tables, progress=progress)
    _emit_clean_report(report, "deleted", output, cutoff, archived_at)


def _emit_clean_report(report: Any, column: str, output: str, cutoff: datetime,
                       archived_at: datetime | None) -> None:
    from flowctl.db.clean_archive import archive_table_name

    rows: list[dict[str, Any]] = [{"table": t, column: n} for t, n in sorted(report.counts.items())]
    columns = ["table", column]
    if archived_at is not None:
        columns.append("archive_table")
        for row in rows:
            row["archive_table"] = archive_table_name(row["table"], archived_at) if row[column] else ""
    emit(rows, output, columns)
    if output not in DATA_OUTPUTS:
        click.echo(f"{column.replace('_', ' ')} {report.total} rows older than {cutoff.isoformat()}")
        if archived_at is not None and report.total:
            click.echo("archived: flowctl db export-archived writes them to CSV, flowctl db drop-archived drops them")


@db_group.command("export-archived")
@click.option("--output-path", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files (made if missing): one <archive table>.csv each.")
@click.option("--export-format", type=click.Choice(["csv"]), default="csv", show_default=True,
              help="File format.")
@click.option("--tables", "-t", "tables", callback=_archived_tables, metavar="T1,T2",
              help="Only the archives of these tables (default: all).")
@click.option("--drop-archives", is_flag=True, help="Drop the archive tables once exported.")
@YES_OPTION
@pass_ctx
def db_export_archived(ctx: CliContext, output_path: Path, export_format: str, tables: list[str] | None,
                       drop_archives: bool, yes: bool) -> None:
    """Write the archive tables of db clean to files, one per table, with a header row."""
    if drop_archives and not yes:
        _require_terminal("db export-archived --drop-archives")
    names = ctx.store.archived_tables(tables)
    if not names:
        click.echo("no archive tables")
        return
    output_path.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = output_path / f"{name}.{export_format}"
        with path.open("w", newline="", encoding="utf-8") as out:
            count = ctx.store.write_archive_csv(name, out)
        click.echo(f"exported {count} rows of {name} to {path}")
    if drop_archives:
        _drop_archives(ctx, names, yes)


@db_group.command("drop-archived")
@click.option("--tables", "-t", "tables", callback=_archived_tables, metavar="T1,T2",
              help="Only the archives of these tables (default: all).")
@YES_OPTION
@pass_ctx
def db_drop_archived(ctx: CliContext, tables: list[str] | None, yes: bool) -> None:
    """Drop the archive tables of db clean (their rows are lost: export them first)."""
    if not yes:
        _require_terminal("db drop-archived")
    names = ctx.store.archived_tables(tables)
    if not names:
        click.echo("no archive tables")
        return
    _drop_archives(ctx, names, yes)


def _drop_archives(ctx: CliContext, names: list[str], yes: bool) -> None:
    if not yes:
        click.echo(f"about to drop {len(names)} archive tables, and their rows with them: {', '.join(names)}",
                   err=True)
        _confirm_phrase(CONFIRM_DROP)
    for name in ctx.store.drop_archive_tables(names):
        click.echo(f"dropped {name}")
