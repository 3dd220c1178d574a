"""The ``flowctl`` command: the composition root that wires settings, store and executor.

Commands are thin: they parse arguments, call a domain function, print. Errors
become one line on stderr and a non-zero exit. Nothing imports this package.
"""
from __future__ import annotations

import sys

import click

from flowctl.cli.app import cli
from flowctl.core.errors import FlowctlError, NotFoundError

# Each module registers its commands on ``cli`` when imported.
from flowctl.cli import config_cmd as _config_cmd  # noqa: E402,F401
from flowctl.cli import dags_cmd as _dags_cmd  # noqa: E402,F401
from flowctl.cli import admin_cmd as _admin_cmd  # noqa: E402,F401
from flowctl.cli import users_cmd as _users_cmd  # noqa: E402,F401
from flowctl.cli import db_cmd as _db_cmd  # noqa: E402,F401
from flowctl.cli import run_cmd as _run_cmd  # noqa: E402,F401
from flowctl.cli import backfill_cmd as _backfill_cmd  # noqa: E402,F401
from flowctl.cli import tasks_cmd as _tasks_cmd  # noqa: E402,F401
from flowctl.cli import tasks_ops_cmd as _tasks_ops_cmd  # noqa: E402,F401
from flowctl.cli import standalone_cmd as _standalone_cmd  # noqa: E402,F401
from flowctl.cli import scheduler_cmd as _scheduler_cmd  # noqa: E402,F401
from flowctl.cli import triggerer_cmd as _triggerer_cmd  # noqa: E402,F401
from flowctl.cli import web_cmd as _web_cmd  # noqa: E402,F401
from flowctl.cli import jobs_cmd as _jobs_cmd  # noqa: E402,F401
from flowctl.cli import info_cmd as _info_cmd  # noqa: E402,F401
from flowctl.cli import celery_cmd as _celery_cmd  # noqa: E402,F401

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = cli.main(args=args, prog_name="flowctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("flowctl: aborted", err=True)
        code = EXIT_ERROR
    except click.ClickException as exc:
        click.echo(f"flowctl: error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except NotFoundError as exc:
        click.echo(f"flowctl: error: {_first_line(exc)}", err=True)
        code = EXIT_NOT_FOUND
    except FlowctlError as exc:
        click.echo(f"flowctl: error: {_first_line(exc)}", err=True)
        code = EXIT_ERROR
    except Exception as exc:
        line = _database_error(exc)
        if line is None:
            raise
        click.echo(f"flowctl: error: {line}", err=True)
        code = EXIT_ERROR
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _database_error(exc: BaseException) -> str | None:
    """One line for an error the metadata database gave (SQLAlchemy's), saying what to do; None
    for any other error (a bug: its traceback is worth more than a line)."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    original = getattr(exc, "orig", None) or exc
    detail = _first_line(original)
    if "no such table" in detail or getattr(original, "pgcode", None) == "42P01":  # SQLite / PostgreSQL
        return f"the metadata database is not initialised ({detail}): run `flowctl db init`"
    if "no such column" in detail or getattr(original, "pgcode", None) == "42703":  # a column a migration adds
        return f"the metadata database is older than this flowctl ({detail}): run `flowctl db migrate`"
    return (f"cannot use the metadata database ({detail}); check [database] sql_alchemy_conn "
            f"(`flowctl config get database sql_alchemy_conn`) or run `flowctl db init`")
