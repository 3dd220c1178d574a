"""Sample serialized DAGs and fixed instants for the Store tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.db.records import DagRunRecord, RunKey, TaskInstanceKey
from flowctl.db.store import Store

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
FILE = "/dags/etl.py"


def serialized(dag_id: str = "etl", tasks: tuple[str, ...] = ("extract", "load"), **extra: Any) -> dict[str, Any]:
    """A minimal serialized DAG in the shape dag_processing produces."""
    return {"dag_id": dag_id, "owner": "data", "tags": ["daily"], "timetable_summary": "@daily",
            "tasks": [{"task_id": t, "retries": 2, "priority_weight": 3, "operator": "BashOperator"}
                      for t in tasks], **extra}


def make_run(store: Store, dag_id: str = "etl", day: int = 0, run_type: str = "scheduled") -> DagRunRecord:
    """Sync the sample DAG (if needed) and create one run ``day`` days after T0."""
    store.sync_dag(serialized(dag_id), FILE, T0)
    logical = T0 + timedelta(days=day)
    return store.create_run(dag_id, f"{run_type}__{logical.isoformat()}", run_type=run_type,
                            logical_date=logical, now=T0, data_interval=(logical, logical + timedelta(days=1)))


def ti_key(run: DagRunRecord, task_id: str = "extract") -> TaskInstanceKey:
    return TaskInstanceKey(run.dag_id, run.run_id, task_id)


def queued_ti(store: Store, run: DagRunRecord, task_id: str = "extract") -> TaskInstanceKey:
    """Move one task instance pending -> scheduled -> queued."""
    key = ti_key(run, task_id)
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    return key


def run_key(run: DagRunRecord) -> RunKey:
    return run.key
