"""LatestOnlyOperator (Airflow: ``airflow.operators.latest_only``): skip the downstream tasks
of every run but the one for the newest scheduled interval.

A run is the latest while the interval after its own has not ended yet; manual runs, and
DAGs whose timetable has no next interval, always go on. It is a branch, so the skips go
through ``context["ti"].skip_except`` like any other branch.

Must not import anything outside flowctl.core, flowctl.operators and the standard library.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from flowctl.core.timetables.base import DataInterval, TimeRestriction
from flowctl.operators.branch import BaseBranchOperator

_UNBOUNDED = TimeRestriction(earliest=None, latest=None, catchup=True)


def is_latest_run(timetable: Any, run: Any, now: datetime) -> bool:
    """True if ``now`` lies after ``run``'s interval and before the end of the next one."""
    if run.external_trigger:
        return True
    interval = DataInterval(run.data_interval_start, run.data_interval_end)
    following = timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=_UNBOUNDED,
                                           now=now)
    if following is None:
        return True
    return interval.end < now <= following.data_interval.end


class LatestOnlyOperator(BaseBranchOperator):
    """Follow every direct downstream task in the latest run, none in older ones."""

    ui_color: ClassVar[str] = "#e9ffdb"

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:
        if is_latest_run(context["dag"].timetable, context["dag_run"], datetime.now(timezone.utc)):
            return sorted(self.downstream_task_ids)
        self.log.info("Not the latest run: skipping the downstream tasks")
        return []
