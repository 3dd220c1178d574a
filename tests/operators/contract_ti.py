"""A tiny task-instance stand-in implementing the documented runner contract (not a DB mock).

Methods: xcom_pull / xcom_push (a dict), skip_except and skip_downstream (record
the ids the runner would skip, using the operators' pure helpers).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flowctl.operators.branch import branch_skip_ids
from flowctl.operators.python import short_circuit_skip_ids


class ContractTI:
    def __init__(self, xcoms: dict[tuple[str, str], Any] | None = None, start_date: datetime | None = None) -> None:
        self.xcoms: dict[tuple[str, str], Any] = dict(xcoms or {})
        self.skipped: set[str] = set()
        self.start_date = start_date
        self.try_number = 1
        self.reschedule_count = 0

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[("<self>", key)] = value

    def skip_except(self, task: Any, follow_task_ids: list[str]) -> None:
        self.skipped |= branch_skip_ids(task, follow_task_ids)

    def skip_downstream(self, task: Any, respect_trigger_rules: bool) -> None:
        self.skipped |= short_circuit_skip_ids(task, respect_trigger_rules)


def context_for(task: Any, ti: ContractTI, **extra: Any) -> dict[str, Any]:
    """A minimal template context for running ``task`` directly."""
    return {"ti": ti, "task_instance": ti, "task": task, "dag": task.dag, "params": {}, "run_id": "manual__1", **extra}
