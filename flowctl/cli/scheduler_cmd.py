"""``flowctl scheduler`` and ``flowctl dag-processor``: wire settings, store, executor and processor.

Thin: the loop lives in ``flowctl.scheduler``. ``--daemon`` detaches (double
fork) and writes ``--pid`` (default ``$FLOWCTL_HOME/flowctl-scheduler.pid``);
a pid file naming a live process refuses to start a second daemon. On SQLite a
scheduler refuses to start while another one's heartbeat is recent (several
schedulers need PostgreSQL).
"""
from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.cli.files import write_whole
from flowctl.core.errors import FlowctlError

log = logging.getLogger("flowctl.scheduler")


def _setup_logging(ctx: CliContext) -> None:
    level = str(ctx.settings.get("logging", "logging_level")).upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def live_pid(path: Path) -> int | None:
    """The pid ``path`` holds, if that process is alive; else None."""
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def daemonize(pid_path: Path, log_path: Path, what: str = "scheduler") -> None:
    """Detach from the terminal (double fork); the grandchild writes ``pid_path`` and continues."""
    running = live_pid(pid_path)
    if running is not None:
        raise FlowctlError(f"a {what} is already running with pid {running} ({pid_path})")
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    write_pid_file(pid_path)


def write_pid_file(path: Path) -> None:
    """This process's pid in ``path``, whole at once: whoever finds the file (``celery stop``, a
    second ``--daemon``) never reads it empty."""
    write_whole(path, f"{os.getpid()}\n")


@cli.command("scheduler")
@click.option("--num-runs", "-n", type=int, default=-1, show_default=True,
              help="Stop after this many scheduling loops (-1: run until stopped).")
@click.option("--daemon", "-D", "daemon", is_flag=True, help="Detach and run in the background.")
@click.option("--pid", "pid_path", type=click.Path(dir_okay=False), default=None,
              help="PID file (default: $FLOWCTL_HOME/flowctl-scheduler.pid).")
@click.option("--subdir", "-S", type=click.Path(), default=None, help="DAG folder (default: [core] dags_folder).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None, help="Log file of --daemon.")
@pass_ctx
def scheduler_command(ctx: CliContext, num_runs: int, daemon: bool, pid_path: str | None, subdir: str | None,
                      log_file: str | None) -> None:
    """Run the scheduler: create runs, decide what runs next, hand tasks to the executor."""
    refuse_a_second_scheduler_on_sqlite(ctx, datetime.now(timezone.utc))  # before --daemon detaches: said here
    run_process(ctx, "scheduler", daemon, pid_path, log_file, lambda: _run_scheduler(ctx, num_runs, subdir))


def run_process(ctx: CliContext, what: str, daemon: bool, pid_path: str | None, log_file: str | None,
                body: Callable[[], None], setup_logging: bool = True) -> None:
    """Run ``body`` as the ``flowctl WHAT`` process: ``--daemon`` detaches first (pid file
    ``$FLOWCTL_HOME/flowctl-WHAT.pid`` unless ``--pid``, log ``flowctl-WHAT.log``); the pid file
    goes when it returns. ``setup_logging``: flowctl's log format on the root logger (not for a
    process whose library configures its own, as Celery's worker does)."""
    home = Path(ctx.settings.home)
    pid_file = Path(pid_path) if pid_path else default_pid_file(ctx, what)
    # No database connection (nor SQLite file) may stay open across the forks to come: the daemon's,
    # and the task agent's (a forked copy of an open SQLite connection breaks its per-process locks).
    ctx.close_store()
    if daemon:
        daemonize(pid_file, Path(log_file) if log_file else home / f"flowctl-{what}.log", what)
    elif pid_path:
        write_pid_file(pid_file)
    if setup_logging:
        _setup_logging(ctx)
    try:
        body()
    finally:
        if (daemon or pid_path) and live_pid(pid_file) == os.getpid():
            pid_file.unlink(missing_ok=True)


def default_pid_file(ctx: CliContext, what: str) -> Path:
    """Where ``flowctl WHAT --daemon`` writes its pid unless told (``$FLOWCTL_HOME/flowctl-WHAT.pid``)."""
    return Path(ctx.settings.home) / f"flowctl-{what}.pid"


def refuse_a_second_scheduler_on_sqlite(ctx: CliContext, now: datetime) -> None:
    """On SQLite (no ``SKIP LOCKED``) one scheduler per database: FlowctlError names another whose
    heartbeat is within ``[scheduler] scheduler_health_check_threshold`` and says how to stop it.
    An older row, or one of a process of this host that is gone (killed with -9), blocks nothing.
    On another database the store is not even built: the database stack's import (some 0.7 s) would
    come before the executor's worker parent starts warming up beside it (:func:`_run_scheduler`)."""
    if not ctx.settings.sql_alchemy_conn.startswith("sqlite"):  # sqlite:// or sqlite+driver://
        return
    threshold = float(ctx.settings.get("scheduler", "scheduler_health_check_threshold"))
    here = socket.gethostname()
    recent = ctx.store.list_jobs("scheduler", "running", heartbeat_after=now - timedelta(seconds=threshold))
    live = [job for job in recent if not _gone_from_this_host(job, here)]
    if not live:
        return
    job = live[0]
    host = job.hostname or "its host"
    age = max(0.0, (now - job.latest_heartbeat).total_seconds())
    hint = "" if job.hostname == here else (f" A scheduler that died there without stopping counts as gone "
                                            f"{threshold:g}s after its last heartbeat.")
    raise FlowctlError(
        f"another scheduler is running on this SQLite database (pid {job.pid} on {host}, last heartbeat "
        f"{age:.0f}s ago) and SQLite allows only one: stop it first (`kill {job.pid}` on {host}, or Ctrl-C "
        f"where it runs), or use PostgreSQL to run several.{hint}")


def _gone_from_this_host(job: Any, here: str) -> bool:
    """Whether ``job`` ran on this host and its process no longer runs (or is this one: a restarted
    container may give the new scheduler the dead one's pid)."""
    if job.hostname != here or not job.pid:
        return False
    if job.pid == os.getpid():
        return True
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    try:  # killed, but not yet reaped by its parent
        with open(f"/proc/{job.pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _agent_seat(executor: Any) -> Any:
    """For the local executor: the seat of a task agent this process forks (see ``AgentSeat``)."""
    if not hasattr(executor, "agent_seat"):
        return None
    from flowctl.task_runner.agent_client import AgentSeat

    executor.agent_seat = AgentSeat()
    return executor.agent_seat


def _run_scheduler(ctx: CliContext, num_runs: int, subdir: str | None) -> None:
    from flowctl.dag_processing.processor import DagFileProcessor
    from flowctl.executors import load_executor
    from flowctl.scheduler import Scheduler
    from flowctl.scheduler.dag_sync import DagSync

    settings = ctx.settings
    executor = load_executor(str(settings.get("core", "executor")), settings)
    seat = _agent_seat(executor)
    executor.start()  # first: the local executor's worker parent warms up while the scheduler starts
    # Next the DAG file processor, whose parsing processes start (and import) beside this one's
    # import of the database stack: the first DAG is parsed that much sooner.
    standalone = settings.get("scheduler", "standalone_dag_processor")
    processor = None if standalone else DagFileProcessor.from_settings(settings)
    try:
        if seat is not None:
            from flowctl.db import store  # noqa: F401 - imported here once, for the agent and the scheduler
            from flowctl.task_runner.agent import fork_agent

            fork_agent(seat, settings)  # before this process opens a database connection
        dag_sync = None if processor is None else DagSync(settings, ctx.store, processor,
                                                          Path(subdir) if subdir else None, background=True)
        scheduler = Scheduler(settings, ctx.store, executor, dag_sync=dag_sync)
        log.info("scheduler starting (executor %s, pid %d)", executor.name, os.getpid())
        # What start-up made (modules, ORM mappings, statement caches) lives as long as the process:
        # frozen, a full collection no longer walks it. One took 60 ms here, a stall of every run.
        gc.freeze()
        ticks = scheduler.run_forever(num_runs=num_runs)
    finally:
        if processor is not None:
            processor.close()
    log.info("scheduler stopped after %d loops", ticks)


@cli.command("dag-processor")
@click.option("--num-runs", "-n", type=int, default=-1, show_default=True,
              help="Stop after this many folder scans (-1: run until stopped).")
@click.option("--subdir", "-S", type=click.Path(), default=None, help="DAG folder (default: [core] dags_folder).")
@pass_ctx
def dag_processor_command(ctx: CliContext, num_runs: int, subdir: str | None) -> None:
    """Parse the DAG folder into the database, standalone (set [scheduler] standalone_dag_processor)."""
    from flowctl.dag_processing.processor import DagFileProcessor
    from flowctl.scheduler.dag_sync import DagSync

    _setup_logging(ctx)
    settings = ctx.settings
    interval = float(settings.get("scheduler", "dag_dir_list_interval"))
    with DagFileProcessor.from_settings(settings) as processor:
        sync = DagSync(settings, ctx.store, processor, Path(subdir) if subdir else None)
        scans = 0
        try:
            while num_runs < 0 or scans < num_runs:
                report = sync.scan(datetime.now(timezone.utc))
                scans += 1
                if report.parsed:
                    ctx.store.notify_scheduler("dags parsed")
                    click.echo(f"parsed {report.parsed} file(s): {report.dags} DAG(s), {report.errors} import error(s)")
                if num_runs < 0 or scans < num_runs:
                    time.sleep(interval)
        except KeyboardInterrupt:
            sys.stderr.write("dag-processor stopped\n")
