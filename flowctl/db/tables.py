"""The metadata database schema: one ORM class per table, names ending in ``Row``.

Table and column names follow Apache Airflow 2 so that people who know its
metadata database find their way. Every timestamp is a :class:`UtcDateTime`:
stored as UTC, returned timezone-aware on SQLite and PostgreSQL alike.
Only ``flowctl.db`` imports this module; callers get records from the Store.
Must not import flowctl packages outside ``flowctl.core``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ID_LEN = 250  # dag_id, run_id, task_id, conn_id, variable key

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; naive values are refused (they hide bugs)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: flowctl stores timezone-aware UTC times only")
        utc = value.astimezone(timezone.utc)
        # SQLite has no timezone type: store naive UTC text so comparisons sort correctly.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JsonText(TypeDecorator[Any]):
    """Any JSON value, kept on SQLite as the very text JSON gives it; PostgreSQL's ``json`` elsewhere.

    SQLite gives a column declared ``JSON`` NUMERIC affinity, which turns the text of a bare number
    into a number: ``10.0`` came back as the int 10, ``2**70`` as a float. Declared ``TEXT`` (the
    DDL this type renders there), the text is kept as written. A row stored before then holds the
    number SQLite made of it, and is read as that number.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(Text() if dialect.name == "sqlite" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return json.dumps(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or value is None or isinstance(value, (int, float)):
            return value
        return json.loads(value)


class Base(DeclarativeBase):
    """Declarative base holding the one MetaData that Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def _ti_key_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["dag_id", "run_id", "task_id", "map_index"],
        ["task_instance.dag_id", "task_instance.run_id", "task_instance.task_id", "task_instance.map_index"],
        name=f"fk_{table}_ti_key", ondelete="CASCADE",
    )


# --- DAGs -------------------------------------------------------------------------------------

class DagRow(Base):
    __tablename__ = "dag"
    __table_args__ = (
        Index("ix_dag_next_dagrun_create_after", "is_paused", "is_active", "next_dagrun_create_after"),
    )

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    fileloc: Mapped[str | None] = mapped_column(String(2000))
    owners: Mapped[str | None] = mapped_column(String(2000))
    tags: Mapped[list[Any] | None] = mapped_column(JSON)
    timetable_summary: Mapped[str | None] = mapped_column(String(1000))
    description: Mapped[str | None] = mapped_column(Text)
    max_active_runs: Mapped[int | None] = mapped_column(Integer)
    max_active_tasks: Mapped[int | None] = mapped_column(Integer)
    has_import_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    last_parsed_time: Mapped[datetime | None]
    next_dagrun: Mapped[datetime | None]
    next_dagrun_data_interval_start: Mapped[datetime | None]
    next_dagrun_data_interval_end: Mapped[datetime | None]
    next_dagrun_create_after: Mapped[datetime | None]


class SerializedDagRow(Base):
    """One version of a DAG's structure; a new row only when the hash changes."""

    __tablename__ = "serialized_dag"
    __table_args__ = (UniqueConstraint("dag_id", "version_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"))
    dag_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    version_number: Mapped[int] = mapped_column(Integer)
    fileloc: Mapped[str | None] = mapped_column(String(2000))


class ImportErrorRow(Base):
    __tablename__ = "import_error"
    __table_args__ = {"sqlite_autoincrement": True}  # the API's import_error_id: never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(1024), unique=True)
    stacktrace: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime]


# --- runs and task instances ------------------------------------------------------------------

class DagRunRow(Base):
    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        UniqueConstraint("dag_id", "logical_date"),
        Index("ix_dag_run_state_dag_id", "state", "dag_id"),
        Index("ix_dag_run_dag_id_state_logical_date", "dag_id", "state", "logical_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_type: Mapped[str] = mapped_column(String(50))
    logical_date: Mapped[datetime]
    data_interval_start: Mapped[datetime | None]
    data_interval_end: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(50), default="queued", server_default="queued")
    conf: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    queued_at: Mapped[datetime | None]
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    last_scheduling_decision: Mapped[datetime | None]
    serialized_dag_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("serialized_dag.id", ondelete="SET NULL"))
    creating_job_id: Mapped[int | None] = mapped_column(Integer)
    external_trigger: Mapped[bool] = mapped_column(Boolean, default=False)
    clear_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]


class TaskInstanceRow(Base):
    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"],
                             name="fk_task_instance_dag_run", ondelete="CASCADE"),
        Index("ix_task_instance_state_dag_id_run_id", "state", "dag_id", "run_id"),
        Index("ix_task_instance_state_queue_priority", "state", "queue", "priority_weight"),
        Index("ix_task_instance_trigger_id", "trigger_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    executor: Mapped[str | None] = mapped_column(String(1000))
    queue: Mapped[str] = mapped_column(String(256), default="default", server_default="default")
    pool: Mapped[str] = mapped_column(String(256), default="default_pool", server_default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    operator: Mapped[str | None] = mapped_column(String(1000))
    queued_at: Mapped[datetime | None]
    queued_by_job_id: Mapped[int | None] = mapped_column(Integer)
    next_retry_at: Mapped[datetime | None]
    reschedule_date: Mapped[datetime | None]
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_heartbeat_at: Mapped[datetime | None]
    external_executor_id: Mapped[str | None] = mapped_column(String(250))
    trigger_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("trigger.id", ondelete="SET NULL"))
    next_method: Mapped[str | None] = mapped_column(String(1000))
    next_kwargs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    trigger_timeout: Mapped[datetime | None]  # a deferred task fails if its trigger has not fired by then
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]


class TaskInstanceHistoryRow(Base):
    """One finished try of a task instance."""

    __tablename__ = "task_instance_history"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number"),
        _ti_key_fk("task_instance_history"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    executor: Mapped[str | None] = mapped_column(String(1000))
    queue: Mapped[str | None] = mapped_column(String(256))
    pool: Mapped[str | None] = mapped_column(String(256))
    pool_slots: Mapped[int | None] = mapped_column(Integer)
    priority_weight: Mapped[int | None] = mapped_column(Integer)
    operator: Mapped[str | None] = mapped_column(String(1000))
    queued_at: Mapped[datetime | None]
    external_executor_id: Mapped[str | None] = mapped_column(String(250))
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime | None]


class TaskRescheduleRow(Base):
    """One reschedule of a sensor in reschedule mode (its timeout counts from the first)."""

    __tablename__ = "task_reschedule"
    __table_args__ = (_ti_key_fk("task_reschedule"),
                      Index("ix_task_reschedule_ti_key", "dag_id", "run_id", "task_id", "map_index"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[datetime]
    end_date: Mapped[datetime]
    duration: Mapped[float] = mapped_column(Float)
    reschedule_date: Mapped[datetime]


class XComRow(Base):
    __tablename__ = "xcom"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "key"),
        _ti_key_fk("xcom"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    key: Mapped[str] = mapped_column(String(512))
    value: Mapped[Any] = mapped_column(JsonText, nullable=True)  # a bare number too: see JsonText
    timestamp: Mapped[datetime]


class TriggerRow(Base):
    """A deferred task's trigger, run by the triggerer."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classpath: Mapped[str] = mapped_column(String(1000))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_date: Mapped[datetime]
    triggerer_id: Mapped[int | None] = mapped_column(Integer)


class SlaMissRow(Base):
    __tablename__ = "sla_miss"
    __table_args__ = (UniqueConstraint("dag_id", "task_id", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    logical_date: Mapped[datetime]
    timestamp: Mapped[datetime]
    notification_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)


# --- admin: variables, connections, pools -----------------------------------------------------

class VariableRow(Base):
    __tablename__ = "variable"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    val: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)


class ConnectionRow(Base):
    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conn_id: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_extra_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)


class PoolRow(Base):
    __tablename__ = "slot_pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(256), unique=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)


# --- jobs and audit ---------------------------------------------------------------------------

class JobRow(Base):
    """A scheduler / worker / triggerer / dag_processor process and its heartbeat."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_type_state_heartbeat", "job_type", "state", "latest_heartbeat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))
    hostname: Mapped[str | None] = mapped_column(String(500))
    pid: Mapped[int | None] = mapped_column(Integer)
    executor_class: Mapped[str | None] = mapped_column(String(500))
    start_date: Mapped[datetime]
    end_date: Mapped[datetime | None]
    latest_heartbeat: Mapped[datetime]


class LogRow(Base):
    """The audit log: who did what, when, from where (ui / api / cli)."""

    __tablename__ = "log"
    __table_args__ = (Index("ix_log_dttm", "dttm"), Index("ix_log_dag_id_event", "dag_id", "event"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[datetime]
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    map_index: Mapped[int | None] = mapped_column(Integer)
    try_number: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(60))
    owner: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str | None] = mapped_column(String(20))
    extra: Mapped[str | None] = mapped_column(Text)


# --- users (web UI, API) ----------------------------------------------------------------------

class UserRow(Base):
    __tablename__ = "ab_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(512), unique=True)
    email: Mapped[str | None] = mapped_column(String(512))
    first_name: Mapped[str | None] = mapped_column(String(256))
    last_name: Mapped[str | None] = mapped_column(String(256))
    password_hash: Mapped[str | None] = mapped_column(String(512))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime]
    last_login: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    # Raised to sign the user out of every browser session (logout); see users.session_stamp.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RoleRow(Base):
    __tablename__ = "ab_role"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class UserRoleRow(Base):
    __tablename__ = "ab_user_role"
    __table_args__ = (UniqueConstraint("user_id", "role_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_role.id", ondelete="CASCADE"))


class ApiTokenRow(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    created: Mapped[datetime]
    expires: Mapped[datetime | None]
    last_used: Mapped[datetime | None]


# --- datasets ---------------------------------------------------------------------------------

class DatasetRow(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(1500), unique=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    is_orphaned: Mapped[bool] = mapped_column(Boolean, default=False)


class DatasetEventRow(Base):
    __tablename__ = "dataset_event"
    __table_args__ = (Index("ix_dataset_event_dataset_id_timestamp", "dataset_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Integer, ForeignKey("dataset.id", ondelete="CASCADE"))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_map_index: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[datetime]


class DatasetDagRefRow(Base):
    """A DAG scheduled on a dataset (the consumer side)."""

    __tablename__ = "dataset_dag_ref"

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
                                        primary_key=True)
    created_at: Mapped[datetime]


class DatasetTaskRefRow(Base):
    """A task that lists the dataset in its outlets (the producer side)."""

    __tablename__ = "dataset_task_ref"

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
                                        primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    created_at: Mapped[datetime]


class DatasetDagRunQueueRow(Base):
    """A dataset update a consumer DAG has not yet made a run from."""

    __tablename__ = "dataset_dag_run_queue"

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    target_dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class DagRunDatasetEventRow(Base):
    """Which dataset events a dataset-triggered run was made from."""

    __tablename__ = "dag_run_dataset_event"

    dag_run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset_event.id", ondelete="CASCADE"), primary_key=True)


class DatasetAliasRow(Base):
    """A dataset alias (Airflow 2.10): named in outlets or schedules, resolved to datasets as tasks add them."""

    __tablename__ = "dataset_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(1500), unique=True)


class DatasetAliasDatasetRow(Base):
    """A dataset an alias has resolved to (a task added it to the alias)."""

    __tablename__ = "dataset_alias_dataset"
    __table_args__ = (Index("ix_dataset_alias_dataset_dataset_id", "dataset_id"),)

    alias_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)


class DatasetAliasDatasetEventRow(Base):
    """A dataset event recorded through an alias (the event's ``source_aliases``)."""

    __tablename__ = "dataset_alias_dataset_event"
    __table_args__ = (Index("ix_dataset_alias_dataset_event_event_id", "event_id"),)

    alias_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset_event.id", ondelete="CASCADE"), primary_key=True)


class DatasetAliasDagRefRow(Base):
    """A DAG scheduled on a dataset alias (it consumes whatever datasets the alias resolved to)."""

    __tablename__ = "dataset_alias_dag_ref"

    alias_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dataset_alias.id", ondelete="CASCADE"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"),
                                        primary_key=True)
    created_at: Mapped[datetime]


ALL_TABLES = tuple(Base.metadata.sorted_tables)
