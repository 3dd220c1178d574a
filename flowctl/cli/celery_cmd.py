"""``flowctl celery worker``: a Celery worker that runs the task tries the CeleryExecutor sends.

Thin: the application and its task live in ``flowctl.executors.celery``. The
worker takes tasks from ``--queues`` (the tasks' ``queue``; ``default``
unless an operator names another) and runs up to ``--concurrency`` tries at
once, each forked from the worker's warm zygote (the worker's threads only wait
for them). It reads this machine's settings: the same metadata
database as the scheduler, its own dags folder and log folder, whose files it
serves to the web server on ``[logging] worker_log_server_port``
(:mod:`flowctl.task_runner.log_server`), and its ``[core] default_timezone``,
the zone of naive dates in the DAG files its tries import (set once in its
zygote, as for the local executor): it must be the DAG processor's.
"""
from __future__ import annotations

from typing import Any

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
    server = _log_server(ctx)
    try:
        app.worker_main(argv)
    finally:
        app.flowctl_tries.end()  # its zygote finishes the tries still running, then exits
        if server is not None:
            server.stop()


def _log_server(ctx: CliContext) -> Any:
    """Serve this machine's task logs to the web server ([logging] worker_log_server_port), or say
    on stderr why not; a worker runs its tries either way."""
    from flowctl.task_runner.log_server import LogServer

    port = int(ctx.settings.get("logging", "worker_log_server_port"))
    if not port:
        return None
    secret = str(ctx.settings.get("webserver", "secret_key") or "")
    if not secret:
        click.echo("flowctl: warning: task logs are not served to the web server: set [webserver] secret_key "
                   "(the web server's) on this worker", err=True)
        return None
    try:
        server = LogServer(ctx.settings.base_log_folder, secret, port=port).start()
    except OSError as exc:  # another worker of this machine serves the same folder already, say
        click.echo(f"flowctl: warning: task logs are not served on port {port}: {exc}", err=True)
        return None
    click.echo(f"serving task logs of {ctx.settings.base_log_folder} on port {server.port}", err=True)
    return server
