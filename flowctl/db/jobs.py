"""Store verbs for jobs: the scheduler, worker, triggerer and dag processor heartbeats.

Must not import above ``db``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from flowctl.core.errors import JobNotFound
from flowctl.db.base import StoreCore
from flowctl.db.records import JOB_TYPES, JobRecord, record_from
from flowctl.db.tables import JobRow

JOB_RUNNING = "running"
JOB_STATES: frozenset[str] = frozenset({JOB_RUNNING, "success", "failed"})


class JobVerbs(StoreCore):
    """create_job, heartbeat_job, end_job, get_job, list_jobs."""

    def create_job(self, job_type: str, hostname: str, pid: int, now: datetime,
                   executor_class: str | None = None) -> JobRecord:
        """Register a running job process."""
        if job_type not in JOB_TYPES:
            raise ValueError(f"job_type must be one of {', '.join(sorted(JOB_TYPES))}, not {job_type!r}")
        with self._session() as s:
            row = JobRow(job_type=job_type, state=JOB_RUNNING, hostname=hostname, pid=pid,
                         executor_class=executor_class, start_date=now, latest_heartbeat=now)
            s.add(row)
            s.flush()
            return record_from(JobRecord, row)

    def heartbeat_job(self, job_id: int, now: datetime) -> bool:
        """Record that a running job is alive; False if it was ended (by itself or a reaper)."""
        with self._session() as s:
            result = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == JOB_RUNNING)
                               .values(latest_heartbeat=now))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def end_job(self, job_id: int, state: str, now: datetime) -> bool:
        """Move a running job to ``success`` or ``failed``; False if it had ended already."""
        if state not in JOB_STATES - {JOB_RUNNING}:
            raise ValueError(f"a job ends as success or failed, not {state!r}")
        with self._session() as s:
            result = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.state == JOB_RUNNING)
                               .values(state=state, end_date=now))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def get_job(self, job_id: int) -> JobRecord:
        """One job; JobNotFound names it."""
        with self._read() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"job {job_id} not found")
            return record_from(JobRecord, row)

    def list_jobs(self, job_type: str | None = None, state: str | None = None,
                  heartbeat_after: datetime | None = None) -> list[JobRecord]:
        """Jobs, newest heartbeat first; ``heartbeat_after`` keeps only live-looking ones."""
        query = select(JobRow).order_by(JobRow.latest_heartbeat.desc())
        if job_type is not None:
            query = query.where(JobRow.job_type == job_type)
        if state is not None:
            query = query.where(JobRow.state == state)
        if heartbeat_after is not None:
            query = query.where(JobRow.latest_heartbeat > heartbeat_after)
        with self._read() as s:
            return [record_from(JobRecord, r) for r in s.scalars(query).all()]
