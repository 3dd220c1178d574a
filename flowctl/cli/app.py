"""The root click group and the per-invocation context (settings, store).

Settings and the store are built lazily, once per invocation, so that
``flowctl version`` or ``--help`` never touch the configuration or database.
Loading the settings also makes ``[core] default_timezone`` the zone of naive
dates in this process: commands that import DAG files here (``tasks test``,
``dags test``, ``tasks run``) do so after they read the settings.
"""
from __future__ import annotations

import gc
import json
from functools import cached_property
from typing import Any

import click

from flowctl.settings import Settings


class CliContext:
    """What every command may need, built on first use."""

    def __init__(self, config_path: str | None = None) -> None:
        self._config_path = config_path

    @cached_property
    def settings(self) -> Settings:
        from flowctl.core.timezones import use_default_timezone  # here: pendulum is not every command's

        settings = Settings.load(path=self._config_path)
        use_default_timezone(settings.default_timezone)
        return settings

    @cached_property
    def store(self) -> Any:
        from flowctl.db.store import Store  # the only place the CLI reaches the database layer

        store = Store.from_settings(self.settings)
        # The command's imports are done: what they made lives as long as the process. Frozen, a
        # collection during the command's own work (the hundreds of task instances of a trigger)
        # does not walk them: that was a 50 ms pause in a trigger of a wide DAG.
        gc.freeze()
        return store

    def close_store(self) -> None:
        """Close the store's connections if it was built (building it imports the database stack)."""
        store = self.__dict__.get("store")
        if store is not None:
            store.close()


pass_ctx = click.make_pass_decorator(CliContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", envvar="FLOWCTL_CONFIG", default=None,
              help="Path of config.cfg (default: $FLOWCTL_HOME/config.cfg).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """flowctl: write pipelines as Python DAG files; flowctl schedules and runs them."""
    ctx.obj = CliContext(config_path)
    ctx.call_on_close(ctx.obj.close_store)  # a command run in-process (tests, embedding) leaves no connection open


@cli.command()
def version() -> None:
    """Print the flowctl version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        click.echo(pkg_version("flowctl"))
    except PackageNotFoundError:
        click.echo("0.0.0+unknown")


OUTPUT_OPTION = click.option(
    "--output", "-o", type=click.Choice(["table", "json", "yaml", "plain"]), default="table", show_default=True,
    help="table for people, json or yaml for scripts, plain: a table without its rule line (as Airflow's plain).",
)

#: The outputs that print the rows as data for scripts rather than as text for people.
DATA_OUTPUTS = ("json", "yaml")


def emit(rows: list[dict[str, Any]], output: str, columns: list[str] | None = None) -> None:
    """Print rows as an aligned table (``plain``: without the rule under the header), JSON or YAML."""
    if output in DATA_OUTPUTS:
        echo_data(rows, output)
        return
    cols = columns or (list(rows[0].keys()) if rows else [])
    if not rows:
        if output == "table":  # plain prints nothing, for scripts that count lines
            click.echo("(none)")
        return
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    if output == "table":
        click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def echo_data(data: Any, output: str) -> None:
    """Print data as JSON, or as YAML holding exactly the values the JSON would (dates as its text)."""
    text = json.dumps(data, indent=2, default=str)
    if output == "yaml":
        import yaml  # here: most commands never print YAML, and every command imports this module

        text = yaml.safe_dump(json.loads(text), sort_keys=False, allow_unicode=True).rstrip("\n")
    click.echo(text)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value).replace("\n", " ")
