"""``flowctl info`` and ``flowctl cheat-sheet``: about this installation, and every command at a glance.

``info`` is what a bug report needs (as Airflow's ``airflow info``): versions,
platform, executor, the database URL with its password masked, the folders.
It reads the settings only, never the database. ``cheat-sheet`` walks the
click command tree, so it lists every command that exists, with its help.
Nothing imports this module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import platform
import sys
from typing import Any

import click

from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, cli, echo_data, emit, pass_ctx
from flowctl.settings import OPTIONS_BY_NAME, mask


def flowctl_version() -> str:
    """The installed flowctl version (``0.0.0+unknown`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        return pkg_version("flowctl")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def info_rows(ctx: CliContext) -> list[dict[str, Any]]:
    """What ``flowctl info`` shows, as (section, key, value) rows; secrets masked."""
    s = ctx.settings

    def setting(section: str, key: str) -> str:
        return mask(OPTIONS_BY_NAME[(section, key)], s.get(section, key))

    rows = [("flowctl", "version", flowctl_version()),
            ("flowctl", "executor", setting("core", "executor")),
            ("flowctl", "sql_alchemy_conn", setting("database", "sql_alchemy_conn")),
            ("flowctl", "dags_folder", str(s.dags_folder)),
            ("flowctl", "base_log_folder", str(s.base_log_folder)),
            ("flowctl", "config_file", f"{s.config_path}{'' if s.config_path.exists() else ' (missing: defaults)'}"),
            ("system", "python_version", sys.version.split()[0]),
            ("system", "python_location", sys.executable),
            ("system", "platform", platform.platform()),
            ("system", "architecture", platform.machine())]
    return [{"section": a, "key": b, "value": c} for a, b, c in rows]


@cli.command("info")
@OUTPUT_OPTION
@pass_ctx
def info(ctx: CliContext, output: str) -> None:
    """Show the version, platform, executor, database URL (password masked) and folders."""
    rows = info_rows(ctx)
    if output in DATA_OUTPUTS:
        sections: dict[str, dict[str, Any]] = {}
        for row in rows:
            sections.setdefault(row["section"], {})[row["key"]] = row["value"]
        echo_data(sections, output)
        return
    emit(rows, output, ["section", "key", "value"])


@cli.command("cheat-sheet")
@click.pass_context
def cheat_sheet(ctx: click.Context) -> None:
    """List every command with its one-line help."""
    root = ctx.find_root()
    lines = list(_commands(root, root.command, "flowctl"))
    width = max(len(name) for name, _ in lines)
    for name, summary in lines:
        click.echo(f"{name.ljust(width)}  {summary}".rstrip())


def _commands(ctx: click.Context, command: click.Command, path: str) -> Any:
    """(full command name, one-line help) of every leaf command under ``command``, sorted."""
    if not isinstance(command, click.Group):
        yield path, command.get_short_help_str(limit=90)
        return
    for name in sorted(command.list_commands(ctx)):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            yield from _commands(ctx, sub, f"{path} {name}")
