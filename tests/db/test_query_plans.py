"""On PostgreSQL the scheduler's hot queries use the indexes made for them (EXPLAIN, after ANALYZE)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowctl.db.store import Store
from flowctl.db.tables import DagRunRow, TaskInstanceRow

pytestmark = pytest.mark.postgres

RUNS, TASKS_PER_RUN = 400, 50

_FILL = [
    "INSERT INTO dag (dag_id, is_paused, is_active, has_import_errors) "
    "SELECT 'dag_' || d, false, true, false FROM generate_series(1, 20) d",
    "INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, state, external_trigger, clear_number) "
    "SELECT 'dag_' || (mod(r, 20) + 1), 'run_' || r, 'scheduled', timestamptz '2020-01-01' + r * interval '1 hour', "
    "CASE WHEN mod(r, 100) = 0 THEN 'running' ELSE 'success' END, false, 0 "
    f"FROM generate_series(1, {RUNS}) r",
    "INSERT INTO task_instance (dag_id, run_id, task_id, map_index, try_number, max_tries, state, queue, pool, "
    "pool_slots, priority_weight) "
    "SELECT dr.dag_id, dr.run_id, 'task_' || t, -1, 1, 0, "
    "CASE WHEN dr.state = 'running' AND mod(t, 5) = 0 THEN 'scheduled' WHEN dr.state = 'running' THEN 'pending' "
    "ELSE 'success' END, 'default', 'default_pool', 1, t "
    f"FROM dag_run dr CROSS JOIN generate_series(1, {TASKS_PER_RUN}) t",
    "ANALYZE",
]


@pytest.fixture
def busy_store(pg_store: Store) -> Store:
    with pg_store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for statement in _FILL:
            conn.exec_driver_sql(statement)
    return pg_store


def _plan(store: Store, query: sa.Select[tuple[object, ...]]) -> str:
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.engine.connect() as conn:
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))


def test_task_instances_ready_to_queue_are_found_through_the_state_index(busy_store: Store) -> None:
    ti = TaskInstanceRow
    query = (sa.select(ti.id).where(ti.state == "scheduled")
             .order_by(ti.priority_weight.desc(), ti.id).limit(512))
    plan = _plan(busy_store, query)
    assert "ix_task_instance_state" in plan, plan
    assert "Seq Scan on task_instance" not in plan, plan


def test_runs_to_examine_are_found_through_the_state_index(busy_store: Store) -> None:
    dr = DagRunRow
    query = (sa.select(dr.id).where(dr.state == "running")
             .order_by(dr.last_scheduling_decision.asc().nulls_first()).limit(20))
    plan = _plan(busy_store, query)
    assert "ix_dag_run_state" in plan, plan
    assert "Seq Scan on dag_run" not in plan, plan


def test_finished_runs_with_teardowns_left_are_found_through_the_task_instance_state_index(
        busy_store: Store) -> None:
    from flowctl.db.scheduling import _MARKED_RUNS

    plan = _plan(busy_store, _MARKED_RUNS.limit(1000))
    assert "ix_task_instance_state" in plan, plan
    assert "Seq Scan on task_instance" not in plan, plan
