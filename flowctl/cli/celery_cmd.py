"""``flowctl celery worker``: a Celery worker that runs the task tries the CeleryExecutor sends;
``flowctl celery flower``: Flower, Celery's monitoring web UI, on the same broker.

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

import importlib.util
import ipaddress
import os
import signal
from pathlib import Path
from typing import Any

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.cli.scheduler_cmd import default_pid_file, live_pid, run_process
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
@click.option("--daemon", "-D", "daemon", is_flag=True, help="Detach and run in the background.")
@click.option("--pid", "pid_path", type=click.Path(dir_okay=False), default=None,
              help="PID file (default with --daemon: $FLOWCTL_HOME/flowctl-worker.pid, which `flowctl celery stop` reads).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Log file of --daemon (default: $FLOWCTL_HOME/flowctl-worker.log).")
@pass_ctx
def celery_worker(ctx: CliContext, queues: str, concurrency: int | None, hostname: str | None, loglevel: str,
                  daemon: bool, pid_path: str | None, log_file: str | None) -> None:
    """Run a Celery worker until SIGTERM / Ctrl-C / `flowctl celery stop` (running tries finish first)."""
    try:
        from flowctl.executors.celery import make_app
    except ImportError as exc:
        raise FlowctlError(f"Celery is not installed ({exc}); install it with: pip install 'flowctl[celery]'") from exc
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    run_process(ctx, "worker", daemon, pid_path, log_file, setup_logging=False,  # Celery sets up its own
                body=lambda: _run_worker(ctx, make_app, names, concurrency, hostname, loglevel))


def _run_worker(ctx: CliContext, make_app: Any, names: list[str], concurrency: int | None, hostname: str | None,
                loglevel: str) -> None:
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


@celery_group.command("stop")
@click.option("--pid", "pid_path", type=click.Path(dir_okay=False), default=None,
              help="The worker's PID file (default: $FLOWCTL_HOME/flowctl-worker.pid).")
@pass_ctx
def celery_stop(ctx: CliContext, pid_path: str | None) -> None:
    """Stop the Celery worker of a PID file (SIGTERM): it takes no more tries and exits once its running ones end."""
    path = Path(pid_path) if pid_path else default_pid_file(ctx, "worker")
    pid = live_pid(path)
    if pid is None:
        state = "holds no running process" if path.exists() else "does not exist"
        raise FlowctlError(f"no Celery worker to stop: its PID file {path} {state} (a worker writes it when "
                           f"started with --daemon or --pid)")
    os.kill(pid, signal.SIGTERM)
    click.echo(f"sent SIGTERM to the Celery worker (pid {pid}); it exits once its running tries end")


@celery_group.command("flower")
@click.option("-H", "--hostname", default=None, help="Address to listen on (default: [celery] flower_host).")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: [celery] flower_port).")
@click.option("-u", "--url-prefix", default=None,
              help="Path Flower is served under behind a proxy (default: [celery] flower_url_prefix).")
@click.option("-A", "--basic-auth", default=None,
              help="user:password[,user:password] (default: [celery] flower_basic_auth, better: a command "
                   "line is visible to the machine's other users).")
@click.option("-a", "--broker-api", default=None,
              help="The broker's HTTP management API, for queue lengths (RabbitMQ: http://user:pass@host:15672/api/).")
@pass_ctx
def celery_flower(ctx: CliContext, hostname: str | None, port: int | None, url_prefix: str | None,
                  basic_auth: str | None, broker_api: str | None) -> None:
    """Run Flower, Celery's monitoring web UI, on the broker of [celery] broker_url, until Ctrl-C."""
    settings = ctx.settings
    host = hostname or str(settings.get("celery", "flower_host"))
    auth = (basic_auth if basic_auth is not None else str(settings.get("celery", "flower_basic_auth") or "")).strip()
    if auth:
        check_basic_auth(auth, "--basic-auth" if basic_auth is not None else "[celery] flower_basic_auth")
    elif not is_loopback(host):
        raise FlowctlError(f"Flower on {host} would show every task's arguments to anyone who reaches it, and let "
                           f"them stop the workers: set [celery] flower_basic_auth (user:password) or listen on "
                           f"127.0.0.1")
    try:
        from flowctl.executors.celery import make_app
    except ImportError as exc:
        raise FlowctlError(f"Celery is not installed ({exc}); install it with: pip install 'flowctl[celery]'") from exc
    if importlib.util.find_spec("flower") is None:  # once installed, a sub-command of celery's
        raise FlowctlError("Flower is not installed; install it with: pip install 'flowctl[celery]'")
    argv = ["flower", f"--address={host}", f"--port={port or int(settings.get('celery', 'flower_port'))}"]
    prefix = url_prefix if url_prefix is not None else str(settings.get("celery", "flower_url_prefix") or "")
    if prefix.strip("/"):
        argv.append(f"--url_prefix={prefix.strip('/')}")
    if auth:
        argv.append(f"--basic_auth={auth}")
    if broker_api:
        argv.append(f"--broker_api={broker_api}")
    make_app(settings).start(argv)


def check_basic_auth(value: str, where: str) -> None:
    """Raise a one-line error unless ``value`` is user:password pairs separated by commas."""
    for pair in value.split(","):
        user, sep, password = pair.strip().partition(":")
        if not (sep and user and password):
            raise click.BadParameter("expected user:password pairs separated by commas (each with a user "
                                     "and a password)", param_hint=where)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to listen on) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


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
