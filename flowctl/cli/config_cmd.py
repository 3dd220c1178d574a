"""``flowctl config list | get | get-value``: show the effective configuration (secrets masked, but
by ``get-value``, which scripts use as they use Airflow's to pass a key on, e.g. the fernet key)."""
from __future__ import annotations

from typing import Any

import click

from flowctl.cli.app import OUTPUT_OPTION, cli, emit, pass_ctx
from flowctl.cli.app import CliContext
from flowctl.core.errors import ConfigError
from flowctl.settings import OPTIONS, OPTIONS_BY_NAME, mask


@cli.group("config")
def config_group() -> None:
    """Show the effective configuration."""


@config_group.command("list")
@OUTPUT_OPTION
@click.option("--section", default=None, help="Only this section.")
@pass_ctx
def config_list(ctx: CliContext, output: str, section: str | None) -> None:
    """List every option with its value and where it came from (secrets masked)."""
    s = ctx.settings
    rows = [
        {
            "section": o.section,
            "key": o.key,
            "value": mask(o, s.get(o.section, o.key)),
            "source": s.sources.get((o.section, o.key), "default"),
        }
        for o in OPTIONS
        if section is None or o.section == section.lower()
    ]
    if section is not None and not rows:
        raise ConfigError(f"there is no section [{section}]")
    emit(rows, output, ["section", "key", "value", "source"])


@config_group.command("get")
@click.argument("section")
@click.argument("key")
@pass_ctx
def config_get(ctx: CliContext, section: str, key: str) -> None:
    """Print the value of one option (secrets masked; `get-value` prints them)."""
    click.echo(mask(_option(section, key), ctx.settings.get(section, key)))


def _option(section: str, key: str) -> Any:
    name = (section.lower(), key.lower())
    if name not in OPTIONS_BY_NAME:
        raise ConfigError(f"[{section}] {key} is not a flowctl option")
    return OPTIONS_BY_NAME[name]


@config_group.command("get-value")
@click.argument("section")
@click.argument("key")
@pass_ctx
def config_get_value(ctx: CliContext, section: str, key: str) -> None:
    """Print the value of one option as Airflow 2's `config get-value` does: secrets too, for scripts
    (e.g. `export FLOWCTL__CORE__FERNET_KEY=$(flowctl config get-value core fernet_key)`)."""
    _option(section, key)
    click.echo(ctx.settings.get(section, key))
