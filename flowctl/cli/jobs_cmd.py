"""``flowctl jobs check``: is a scheduler (or another job) alive? For health checks.

As Airflow 2's ``airflow jobs check`` (what its docker-compose file and Helm
chart run as a liveness probe): exit 0 when a running job with a recent
heartbeat exists, else 1 with one line. A scheduler is alive while its
heartbeat is younger than ``[scheduler] scheduler_health_check_threshold``
(the threshold the scheduler itself uses to declare another one gone); any
other job while it is younger than 2.1 heartbeats, as in Airflow. Nothing
imports this module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import click

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.core.errors import FlowctlError

#: Airflow's job type names (and flowctl's own) -> flowctl's job_type column.
JOB_TYPES = {"schedulerjob": "scheduler", "scheduler": "scheduler",
             "triggererjob": "triggerer", "triggerer": "triggerer",
             "dagprocessorjob": "dag_processor", "dag_processor": "dag_processor",
             "localtaskjob": "worker", "worker": "worker"}
#: A job other than a scheduler is alive while its heartbeat is younger than this many heartbeats (Airflow's).
HEARTBEAT_GRACE = 2.1


class NoAliveJob(FlowctlError):
    """``jobs check`` found no live job, or more than one without ``--allow-multiple``."""


@cli.group("jobs")
def jobs_group() -> None:
    """Check the jobs (scheduler, ...) that heartbeat in the database."""


def _job_type(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    found = JOB_TYPES.get(value.lower())
    if found is None:
        raise click.BadParameter(f"{value!r} is not a job type: use SchedulerJob, TriggererJob, DagProcessorJob "
                                 "or LocalTaskJob (or scheduler, triggerer, dag_processor, worker)")
    return found


@jobs_group.command("check")
@click.option("--job-type", default=None, callback=_job_type,
              help="SchedulerJob, TriggererJob, DagProcessorJob or LocalTaskJob (default: any).")
@click.option("--hostname", default=None, help="Only jobs on this host.")
@click.option("--limit", default=1, show_default=True, type=click.IntRange(min=1),
              help="How many live jobs to look at (more than 1 needs --allow-multiple).")
@click.option("--allow-multiple", is_flag=True, help="Pass when several live jobs are found.")
@click.option("--local", is_flag=True, help="Only jobs on this host (socket.gethostname()).")
@pass_ctx
def jobs_check(ctx: CliContext, job_type: str | None, hostname: str | None, limit: int, allow_multiple: bool,
               local: bool) -> None:
    """Exit 0 if a live job (recent heartbeat) exists, else 1 with one line: for health checks."""
    if local and hostname:
        raise click.UsageError("--hostname and --local exclude each other")
    if limit > 1 and not allow_multiple:
        raise click.UsageError(f"--limit {limit} needs --allow-multiple")
    host = socket.gethostname() if local else hostname
    alive = alive_jobs(ctx, job_type, host, datetime.now(timezone.utc))[:limit]
    if not alive:
        raise NoAliveJob("No alive jobs found.")
    if len(alive) > 1 and not allow_multiple:
        raise NoAliveJob(f"Found {len(alive)} alive jobs. Expected only one.")
    click.echo("Found one alive job." if len(alive) == 1 else f"Found {len(alive)} alive jobs.")


def alive_jobs(ctx: CliContext, job_type: str | None, hostname: str | None, now: datetime) -> list[object]:
    """Running jobs (newest heartbeat first) whose heartbeat is recent enough for their type."""
    found = []
    for job in ctx.store.list_jobs(job_type=job_type, state="running"):
        if hostname is not None and job.hostname != hostname:
            continue
        if now - _aware(job.latest_heartbeat) <= _threshold(ctx, job.job_type):
            found.append(job)
    return found


def _threshold(ctx: CliContext, job_type: str) -> timedelta:
    if job_type == "scheduler":
        return timedelta(seconds=float(ctx.settings.get("scheduler", "scheduler_health_check_threshold")))
    section = "triggerer" if job_type == "triggerer" else "scheduler"  # each job beats at its own rate
    key = "job_heartbeat_sec" if job_type == "triggerer" else "heartbeat_sec"
    return timedelta(seconds=HEARTBEAT_GRACE * float(ctx.settings.get(section, key)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
