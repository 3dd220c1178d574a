"""``db clean`` with archives: each deleted row is first copied into its archive table, in the same
transaction; ``--tables`` limits the clean; the archives can be listed, written to CSV and dropped."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from flowctl.db.clean import UnknownCleanTable, clean_tables
from flowctl.db.clean_archive import ArchiveError, ArchivingDelete, archive_table_name, archived_from
from flowctl.db.records import DagRunRecord
from flowctl.db.store import Store
from flowctl.db.tables import DagRunDatasetEventRow, DatasetEventRow, DatasetRow
from tests.db.samples import T0, make_run, queued_ti, ti_key

CUTOFF = T0 + timedelta(days=10)
CLEANED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.fixture
def db(store: Store) -> Iterator[Store]:
    """The Store on SQLite and PostgreSQL, its archive tables dropped afterwards (the PostgreSQL
    database is shared by the session, and ``db check`` would see them)."""
    yield store
    store.drop_archive_tables(store.archived_tables())


def finish(store: Store, run: DagRunRecord) -> None:
    """Run ``extract`` of ``run`` to success with one XCom and a try history, then end the run."""
    key = queued_ti(store, run)
    store.claim_queued_task(key, "h", 1, T0)
    store.set_task_state(key, "running", "success", end_date=T0)
    store.record_try_history(key)
    store.xcom_push(key, "return_value", {"rows": run.logical_date.day}, T0)
    store.set_run_state(run.key, "queued", "running")
    store.set_run_state(run.key, "running", "success", end_date=T0)


def rows_of(store: Store, table: str, *columns: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(f'SELECT {", ".join(columns)} FROM "{table}"')))


def test_clean_with_archive_copies_every_deleted_row_into_its_archive_table(db: Store) -> None:
    old = [make_run(db, day=d) for d in range(3)]
    for run in old:
        finish(db, run)
    kept = make_run(db, day=20)
    finish(db, kept)
    db.audit("trigger", now=T0, source="cli")
    report = db.clean_with_archive(CUTOFF, CLEANED_AT, batch_size=2)
    assert report.counts == {"dag_run": 3, "task_instance": 6, "task_instance_history": 3, "xcom": 3,
                             "task_reschedule": 0, "log": 1, "job": 0}
    assert [r.run_id for r in db.list_runs("etl")] == [kept.run_id]
    assert rows_of(db, archive_table_name("dag_run", CLEANED_AT), "run_id", "state") == sorted(
        (r.run_id, "success") for r in old)
    assert len(rows_of(db, archive_table_name("task_instance", CLEANED_AT), "id")) == 6
    assert rows_of(db, archive_table_name("log", CLEANED_AT), "event") == [("trigger",)]
    assert {archived_from(n) for n in db.archived_tables()} == {
        "dag_run", "task_instance", "task_instance_history", "xcom", "log"}  # none for empty tables


def test_the_archive_keeps_the_column_values_and_types(db: Store) -> None:
    run = make_run(db, day=1)
    finish(db, run)
    db.clean_with_archive(CUTOFF, CLEANED_AT, tables=["xcom"])
    out = io.StringIO()
    assert db.write_archive_csv(archive_table_name("xcom", CLEANED_AT), out) == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["run_id"], row["task_id"], row["key"]) == (run.run_id, "extract", "return_value")
    assert row["value"].replace(" ", "") == '{"rows":2}' and row["timestamp"].startswith("2024-01-01")


def test_a_failure_mid_batch_rolls_back_the_archive_and_the_delete_together(
        db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    for day in range(2):
        finish(db, make_run(db, day=day))
    archive_then_delete = ArchivingDelete.remove

    def crash_at_dag_run(self: ArchivingDelete, s: Any, table: sa.Table, where: list[Any]) -> int:
        removed = archive_then_delete(self, s, table, where)
        if table.name == "dag_run":
            raise RuntimeError("the process died here")
        return removed

    monkeypatch.setattr(ArchivingDelete, "remove", crash_at_dag_run)
    with pytest.raises(RuntimeError):
        db.clean_with_archive(CUTOFF, CLEANED_AT)
    assert db.archived_tables() == []
    assert len(db.list_runs("etl")) == 2 and len(rows_of(db, "xcom", "id")) == 2


def test_clean_without_archive_makes_no_archive_table(db: Store) -> None:
    finish(db, make_run(db, day=1))
    assert db.clean(CUTOFF).counts["dag_run"] == 1
    assert db.archived_tables() == [] and db.list_runs("etl") == []


def test_tables_limits_the_clean_and_keeps_the_runs(db: Store) -> None:
    runs = [make_run(db, day=d) for d in range(3)]
    for run in runs:
        finish(db, run)
    db.audit("trigger", now=T0, source="cli")
    report = db.clean_with_archive(CUTOFF, CLEANED_AT, batch_size=1, tables=["xcom"])
    assert report.counts == {"xcom": 3}
    assert len(db.list_runs("etl")) == 3 and len(rows_of(db, "log", "id")) == 1
    assert db.xcom_pull(runs[0].key, "extract") is None
    assert db.get_task_instance(ti_key(runs[0])).state == "success"


def test_a_table_brings_the_tables_whose_rows_would_cascade_with_it() -> None:
    assert clean_tables(["dag_run"]) == ("dag_run", "task_instance", "task_instance_history",
                                         "task_reschedule", "xcom")
    assert clean_tables(["log", "task_instance"]) == ("task_instance", "task_instance_history",
                                                      "task_reschedule", "xcom", "log")
    assert clean_tables(["job"]) == ("job",)
    with pytest.raises(UnknownCleanTable, match="unknown table dagrun: db clean purges dag_run, task_instance"):
        clean_tables(["dagrun"])


def test_a_dry_run_of_some_tables_counts_only_those(db: Store) -> None:
    finish(db, make_run(db, day=1))
    db.audit("trigger", now=T0, source="cli")
    assert db.preview_clean(CUTOFF, ["log"]).counts == {"log": 1}
    assert db.preview_clean(CUTOFF, ["task_instance"]).counts == {
        "task_instance": 2, "task_instance_history": 1, "task_reschedule": 0, "xcom": 1}


def test_the_links_of_a_dataset_triggered_run_are_archived_with_it(db: Store) -> None:
    run = make_run(db, day=1)
    finish(db, run)
    with db.engine.begin() as conn:  # a dataset event that triggered the run (the link cascades otherwise)
        conn.execute(DatasetRow.__table__.insert().values(id=7, uri="s3://b/k", created_at=T0, is_orphaned=False))
        conn.execute(DatasetEventRow.__table__.insert().values(id=8, dataset_id=7, timestamp=T0))
        conn.execute(DagRunDatasetEventRow.__table__.insert().values(dag_run_id=run.id, event_id=8))
    db.clean_with_archive(CUTOFF, CLEANED_AT)
    assert rows_of(db, archive_table_name("dag_run_dataset_event", CLEANED_AT), "dag_run_id", "event_id") == [
        (run.id, 8)]
    assert rows_of(db, "dag_run_dataset_event", "event_id") == []


def test_a_second_clean_in_the_same_second_appends_to_the_same_archive(db: Store) -> None:
    finish(db, make_run(db, day=1))
    db.clean_with_archive(CUTOFF, CLEANED_AT, tables=["dag_run"])
    finish(db, make_run(db, day=2))
    db.clean_with_archive(CUTOFF, CLEANED_AT, tables=["dag_run"])
    assert len(rows_of(db, archive_table_name("dag_run", CLEANED_AT), "id")) == 2


def test_archives_are_listed_oldest_first_filtered_and_dropped(db: Store) -> None:
    earlier = CLEANED_AT - timedelta(days=1)
    finish(db, make_run(db, day=1))
    db.audit("trigger", now=T0, source="cli")
    db.clean_with_archive(CUTOFF, earlier, tables=["log"])
    db.clean_with_archive(CUTOFF, CLEANED_AT, tables=["xcom"])
    assert db.archived_tables() == [archive_table_name("log", earlier), archive_table_name("xcom", CLEANED_AT)]
    assert db.archived_tables(["xcom"]) == [archive_table_name("xcom", CLEANED_AT)]
    assert db.drop_archive_tables(db.archived_tables(["log"])) == [archive_table_name("log", earlier)]
    with db.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    assert archive_table_name("log", earlier) not in names and archive_table_name("xcom", CLEANED_AT) in names


def test_only_archive_tables_can_be_dropped_or_exported(db: Store) -> None:
    with pytest.raises(ArchiveError, match="'dag_run' is not an archive table"):
        db.drop_archive_tables(["dag_run"])
    with pytest.raises(ArchiveError):
        db.write_archive_csv("log", io.StringIO())
    assert len(db.list_runs()) == 0 and rows_of(db, "dag_run", "id") == []
