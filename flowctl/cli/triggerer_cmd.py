"""``flowctl triggerer``: run deferred tasks' triggers (wires settings and store to ``flowctl.triggerer``).

Thin: the job lives in ``flowctl.triggerer``. Several triggerers may run at once (on PostgreSQL
they share the triggers with ``SKIP LOCKED``; one that stops heartbeating loses its triggers to
the others). SIGTERM/SIGINT stop it cleanly: its triggers are cancelled and taken over by another
triggerer (or by this one when it starts again). ``--daemon`` detaches and writes ``--pid``
(default ``$FLOWCTL_HOME/flowctl-triggerer.pid``). Nothing imports this module but
``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import logging
import os
import signal
from datetime import datetime, timezone
from types import FrameType

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.cli.scheduler_cmd import run_process

log = logging.getLogger("flowctl.triggerer")


@cli.command("triggerer")
@click.option("--capacity", type=click.IntRange(min=1), default=None,
              help="Triggers run at once at most (default: [triggerer] default_capacity).")
@click.option("--num-runs", "-n", type=int, default=-1, show_default=True,
              help="Stop after this many rounds (-1: run until stopped).")
@click.option("--daemon", "-D", "daemon", is_flag=True, help="Detach and run in the background.")
@click.option("--pid", "pid_path", type=click.Path(dir_okay=False), default=None,
              help="PID file (default: $FLOWCTL_HOME/flowctl-triggerer.pid).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None, help="Log file of --daemon.")
@pass_ctx
def triggerer_command(ctx: CliContext, capacity: int | None, num_runs: int, daemon: bool, pid_path: str | None,
                      log_file: str | None) -> None:
    """Run the triggers of deferred tasks (deferrable operators and sensors) in one asyncio loop."""
    run_process(ctx, "triggerer", daemon, pid_path, log_file, lambda: _run_triggerer(ctx, capacity, num_runs))


def _run_triggerer(ctx: CliContext, capacity: int | None, num_runs: int) -> None:
    from flowctl.task_runner import dagfile
    from flowctl.triggerer.job import Triggerer
    from flowctl.triggers.metadata import use_store

    dagfile.use_dags_folder(ctx.settings.dags_folder)  # triggers defined in DAG files import as the tasks do
    use_store(ctx.store)  # triggers that watch runs (DagStateTrigger...) read this database, --config's included
    triggerer = Triggerer.start(ctx.store, ctx.settings, datetime.now(timezone.utc))
    if capacity is not None:
        triggerer.capacity = capacity

    def on_signal(signum: int, frame: FrameType | None) -> None:
        triggerer.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("triggerer starting (job %d, capacity %d, pid %d)", triggerer.job_id, triggerer.capacity, os.getpid())
    rounds = triggerer.run_forever(rounds=num_runs)
    log.info("triggerer stopped after %d rounds", rounds)
