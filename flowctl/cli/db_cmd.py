"""``flowctl db init | migrate | upgrade | downgrade | check | reset | shell | clean``: the metadata database.

``db init`` also fills ``[core] fernet_key`` and ``[webserver] secret_key`` in
config.cfg when they are empty (creating the file from the defaults when it
is missing; a value already set is never overwritten) and makes sure
``default_pool`` exists. Thin: the work is in ``flowctl.db.migrate`` and the Store.
"""
from __future__ import annotations

import secrets
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import click

from flowctl.cli.app import OUTPUT_OPTION, CliContext, cli, emit, pass_ctx
from flowctl.core import timezones
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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
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


@db_group.command("upgrade")
@click.option("--to", "revision", default="head", show_default=True, help="Target revision.")
@pass_ctx
def db_upgrade(ctx: CliContext, revision: str) -> None:
    """Apply migrations up to a revision."""
    from flowctl.db import migrate

    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    migrate.upgrade(ctx.store.engine, revision)
    click.echo(f"database at revision {migrate.current(ctx.store.engine)}")


@db_group.command("migrate")
@click.option("--to-revision", "-r", "revision", default="head", show_default=True, help="Target revision.")
@pass_ctx
def db_migrate(ctx: CliContext, revision: str) -> None:
    """Create or migrate the database to a revision and ensure default_pool (Airflow 2.7+'s name for upgrade).

    Unlike `db init` it never writes config.cfg: set [core] fernet_key and [webserver] secret_key yourself.
    """
    from flowctl.db import migrate

    _ensure_sqlite_folder(ctx.settings.sql_alchemy_conn)
    migrate.upgrade(ctx.store.engine, revision)
    if revision == "head":
        _ensure_default_pool(ctx)
    click.echo(f"database at revision {migrate.current(ctx.store.engine)}")


@db_group.command("downgrade")
@click.option("--to", "revision", required=True, help="Target revision (base removes every table).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def db_downgrade(ctx: CliContext, revision: str, yes: bool) -> None:
    """Revert migrations down to a revision (may delete data)."""
    from flowctl.db import migrate

    if not yes:
        click.confirm(f"Downgrade the database to {revision}? Data in removed tables is lost", abort=True)
    migrate.downgrade(ctx.store.engine, revision)
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
@click.option("--yes", is_flag=True, help="Really delete every table and its data.")
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


def parse_cutoff(raw: str) -> datetime:
    """A --older-than value: an ISO date or datetime; naive means UTC."""
    try:
        return timezones.parse_moment(raw)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@db_group.command("clean")
@click.option("--older-than", "older_than", required=True, help="ISO date: purge finished runs before it.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@OUTPUT_OPTION
@pass_ctx
def db_clean(ctx: CliContext, older_than: str, dry_run: bool, output: str) -> None:
    """Purge old finished runs, their task instances, tries and XCom, and old audit rows."""
    cutoff = parse_cutoff(older_than)
    report = ctx.store.preview_clean(cutoff) if dry_run else ctx.store.clean(cutoff)
    verb = "would delete" if dry_run else "deleted"
    rows = [{"table": t, verb.replace(" ", "_"): n} for t, n in sorted(report.counts.items())]
    emit(rows, output, ["table", verb.replace(" ", "_")])
    if output != "json":
        click.echo(f"{verb} {report.total} rows older than {cutoff.isoformat()}")
