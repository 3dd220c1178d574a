"""``flowctl config list | get | get-value``: show the effective configuration (secrets masked)."""
from __future__ import annotations

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
    """Print the value of one option (secrets masked); ``get-value`` is its Airflow 2 name."""
    name = (section.lower(), key.lower())
    if name not in OPTIONS_BY_NAME:
        raise ConfigError(f"[{section}] {key} is not a flowctl option")
    click.echo(mask(OPTIONS_BY_NAME[name], ctx.settings.get(section, key)))


config_group.add_command(click.Command("get-value", callback=config_get.callback, params=config_get.params,
                                       help="Print the value of one option (secrets masked), as Airflow 2's "
                                            "`config get-value`; the same as `config get`."))
