"""The schema and the engine: UTC-aware times, Airflow table names, SQLite pragmas."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from flowctl.db.engine import make_engine, normalize_url
from flowctl.db.store import Store
from flowctl.db.tables import Base, JobRow

AIRFLOW_TABLES = {"dag", "serialized_dag", "import_error", "dag_run", "task_instance", "task_instance_history",
                  "xcom", "variable", "connection", "slot_pool", "job", "log", "sla_miss", "ab_user", "ab_role",
                  "ab_user_role", "dataset", "dataset_event", "trigger"}


def test_every_table_the_issue_lists_exists_with_airflows_name() -> None:
    assert AIRFLOW_TABLES <= set(Base.metadata.tables)


def test_every_orm_class_name_ends_in_row() -> None:
    assert all(m.class_.__name__.endswith("Row") for m in Base.registry.mappers)


def test_the_scheduler_hot_query_indexes_exist() -> None:
    def columns(table: str) -> set[tuple[str, ...]]:
        return {tuple(c.name for c in ix.columns) for ix in Base.metadata.tables[table].indexes}

    assert ("state", "dag_id", "run_id") in columns("task_instance")
    assert ("state", "queue", "priority_weight") in columns("task_instance")
    assert {("state", "dag_id"), ("dag_id", "state", "logical_date")} <= columns("dag_run")
    assert ("is_paused", "is_active", "next_dagrun_create_after") in columns("dag")
    assert ("job_type", "state", "latest_heartbeat") in columns("job")


def _insert_job(store: Store, when: datetime) -> datetime:
    with store._session() as s:
        row = JobRow(job_type="worker", state="running", start_date=when, latest_heartbeat=when)
        s.add(row)
        s.flush()
        job_id = row.id
    with store._read() as s:
        return s.get_one(JobRow, job_id).start_date


def test_a_time_in_another_zone_comes_back_as_the_same_instant_in_utc(store: Store) -> None:
    plus_two = datetime(2024, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    back = _insert_job(store, plus_two)
    assert back == plus_two and back.tzinfo == timezone.utc and back.hour == 12


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        _insert_job(store, datetime(2024, 6, 1, 12, 0))


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in
                   ("journal_mode", "foreign_keys", "busy_timeout")}
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_a_bare_postgresql_url_gets_an_installed_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername.startswith("postgresql+psycopg")
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_deleting_a_run_deletes_its_task_instances_on_every_database(store: Store) -> None:
    from tests.db.samples import make_run

    run = make_run(store)
    with store._session() as s:
        s.execute(sa.text("DELETE FROM dag_run WHERE run_id = :r"), {"r": run.run_id})
    assert store.list_task_instances(run.key) == []


def test_the_in_memory_sqlite_engine_works_for_quick_experiments() -> None:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
