"""``flowctl celery worker``: a Celery worker that runs the task tries the CeleryExecutor sends.

Thin: the application and its task live in ``flowctl.executors.celery``. The
worker takes tasks from ``--queues`` (the tasks' ``queue``; ``default``
unless an operator names another) and runs up to ``--concurrency`` tries at
once, each forked from the worker's warm zygote (the worker's threads only wait
for them). It reads this machine's settings: the same metadata
database as the scheduler, its own dags folder and log folder.
"""
from __future__ import annotations

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.core.errors import FlowctlError


@cli.group("celery")
def celery_group() -> None:
    """Celery workers, for [core] executor = celery."""


@celery_group.command("worker")
@click.option("-q", "--queues", default="default", show_default=True,
              help="Comma-separated queues to take tasks from.")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=None,
              help="Tries run at once (default: [celery] worker_concurrency).")
@click.option("--hostname", default=None, help="The worker's Celery node name (default: celery@<host>).")
@click.option("--loglevel", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@pass_ctx
def celery_worker(ctx: CliContext, queues: str, concurrency: int | None, hostname: str | None, loglevel: str) -> None:
    """Run a Celery worker in the foreground until SIGTERM / Ctrl-C (running tries finish first)."""
    try:
        from flowctl.executors.celery import make_app
    except ImportError as exc:
        raise FlowctlError(f"Celery is not installed ({exc}); install it with: pip install 'flowctl[celery]'") from exc
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    size = concurrency or int(ctx.settings.get("celery", "worker_concurrency"))
    app = make_app(ctx.settings)
    app.flowctl_tries.concurrency = size  # the warm zygote runs as many tries at once as the pool's threads
    argv = ["worker", f"--queues={','.join(names)}", "--pool=threads", f"--loglevel={loglevel.upper()}",
            f"--concurrency={size}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    try:
        app.worker_main(argv)
    finally:
        app.flowctl_tries.end()  # its zygote finishes the tries still running, then exits
