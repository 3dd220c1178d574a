"""The kinds of DAG run flowctl records as ``dag_run.run_type``, under Airflow 2's names (``DagRunType``).

The values are what flowctl stores (``flowctl.db.records.RUN_TYPES``): ``manual``, ``scheduled``,
``backfill`` and ``dataset_triggered`` (a run the scheduler made from dataset updates), as in
Airflow, so ``dag_run.run_type == DagRunType.MANUAL`` holds as there; ``dataset`` (flowctl's
earlier name of the last) is accepted by ``DagRunType(...)`` too.
Pure: must not import anything outside the standard library.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum


class DagRunType(str, Enum):
    """Why a run exists: triggered by hand, by the schedule, by a backfill (or by a dataset)."""

    BACKFILL_JOB = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    DATASET_TRIGGERED = "dataset_triggered"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> DagRunType | None:
        return cls.DATASET_TRIGGERED if value == "dataset" else None

    def generate_run_id(self, logical_date: datetime) -> str:
        """The run id a run of this kind at ``logical_date`` gets by default (``scheduled__<date>``...)."""
        return f"{self.value}__{logical_date.isoformat()}"

    @staticmethod
    def from_run_id(run_id: str) -> DagRunType:
        """The kind a default run id names; MANUAL for any other id (as in Airflow)."""
        for run_type in DagRunType:
            if run_id.startswith(f"{run_type.value}__"):
                return run_type
        return DagRunType.MANUAL
