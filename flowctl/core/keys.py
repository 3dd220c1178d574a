"""Identities of runs and task instances, shared by every layer. Pure."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class RunKey:
    """Identifies one DAG run."""

    dag_id: str
    run_id: str


@dataclass(frozen=True, slots=True, order=True)
class TaskInstanceKey:
    """Identifies one task instance, all its tries (Airflow's key without try_number)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @property
    def run_key(self) -> RunKey:
        return RunKey(self.dag_id, self.run_id)

    def __str__(self) -> str:
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{suffix} @ {self.run_id}"
