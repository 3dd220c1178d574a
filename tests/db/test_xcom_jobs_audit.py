"""XCom, job heartbeats and the audit log, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from flowctl.core.errors import FlowctlError, JobNotFound, XComTooLargeError
from flowctl.core.xcom_values import TYPE_KEY, decode_xcom_value, encode_xcom_value
from flowctl.db.store import Store
from flowctl.db.xcom import XComQuery
from tests.db.samples import T0, make_run, ti_key


def test_an_xcom_round_trips_as_json(store: Store) -> None:
    run = make_run(store)
    store.xcom_push(ti_key(run), "return_value", {"rows": [1, 2], "ok": True}, T0)
    assert store.xcom_pull(run.key, "extract") == {"rows": [1, 2], "ok": True}


def test_pushing_the_same_key_again_replaces_the_value(store: Store) -> None:
    run = make_run(store)
    store.xcom_push(ti_key(run), "n", 1, T0)
    store.xcom_push(ti_key(run), "n", 2, T0)
    assert store.xcom_pull(run.key, "extract", "n") == 2
    assert len(store.list_xcoms(run.key)) == 1


def test_a_missing_xcom_returns_the_default(store: Store) -> None:
    run = make_run(store)
    assert store.xcom_pull(run.key, "extract", default="none") == "none"


def test_an_xcom_over_the_size_limit_is_refused_pointing_at_the_option(store: Store) -> None:
    run = make_run(store)
    store.xcom_max_size = 100
    with pytest.raises(XComTooLargeError, match="xcom_max_size"):
        store.xcom_push(ti_key(run), "big", "x" * 200, T0)


def test_a_value_that_is_not_json_is_refused(store: Store) -> None:
    run = make_run(store)
    with pytest.raises(FlowctlError, match="JSON"):
        store.xcom_push(ti_key(run), "obj", object(), T0)


def _stored_text(store: Store, key: str) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT CAST(value AS TEXT) FROM xcom WHERE key = :k"), {"k": key}).scalar_one())


def test_encoded_temporal_values_round_trip_through_the_store_to_equal_values_of_their_types(
        store: Store) -> None:
    run = make_run(store)
    value = {"start": datetime(2024, 1, 1, 6, tzinfo=timezone(timedelta(hours=-5))),
             "naive": datetime(2024, 1, 1, 6, 30, 15, 250), "days": [date(2024, 1, 1), date(2024, 1, 2)],
             "at": time(6, 30), "every": timedelta(hours=1, microseconds=5)}
    store.xcom_push(ti_key(run), "return_value", encode_xcom_value(value), T0)
    back = decode_xcom_value(store.xcom_pull(run.key, "extract"))
    assert back == value
    assert [type(back[k]) for k in ("start", "naive", "at", "every")] == [datetime, datetime, time, timedelta]
    assert back["start"].utcoffset() == timedelta(hours=-5) and back["naive"].tzinfo is None
    assert all(type(d) is date for d in back["days"])
    [record] = store.list_xcoms(run.key)
    assert decode_xcom_value(record.value) == value


def test_a_users_dict_with_the_type_key_round_trips_through_the_store_unchanged(store: Store) -> None:
    run = make_run(store)
    value = {TYPE_KEY: "datetime", "value": "2024-01-01", "n": [1, {TYPE_KEY + "~": None}]}
    store.xcom_push(ti_key(run), "mine", encode_xcom_value(value), T0)
    assert decode_xcom_value(store.xcom_pull(run.key, "extract", "mine")) == value


@pytest.mark.parametrize("value", [{"rows": [1, 2], "ok": True, "name": "x"}, [[1], [2]], "2024-01-01", 7])
def test_a_plain_value_is_stored_as_the_same_json_text_as_before_datetimes_were_supported(
        store: Store, value: Any) -> None:
    run = make_run(store)
    store.xcom_push(ti_key(run), "plain", encode_xcom_value(value), T0)
    assert _stored_text(store, "plain") == json.dumps(value)


@pytest.mark.parametrize("value", [10.0, 2**70, -2**70, 0.1, 1e300, -0.5, 7, True, "10", "1e3", None])
def test_a_bare_number_or_other_scalar_comes_back_from_the_store_as_the_same_value_of_the_same_type(
        store: Store, value: Any) -> None:
    run = make_run(store)
    store.xcom_push(ti_key(run), "scalar", value, T0)
    back = store.xcom_pull(run.key, "extract", "scalar", default="missing")
    assert (back, type(back)) == (value, type(value))
    [record] = store.list_xcoms(run.key)
    assert (record.value, type(record.value)) == (value, type(value))


def test_sqlite_keeps_an_xcom_value_as_its_json_text_not_as_a_number(sqlite_store: Store) -> None:
    """SQLite only: its column affinity turned the text 10.0 into the integer 10."""
    store = sqlite_store
    run = make_run(store)
    store.xcom_push(ti_key(run), "scalar", 10.0, T0)
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT typeof(value), value FROM xcom WHERE key = 'scalar'")).one()
    assert tuple(stored) == ("text", "10.0")


def test_a_raw_datetime_given_to_the_store_itself_is_refused_as_not_json(store: Store) -> None:
    run = make_run(store)
    with pytest.raises(FlowctlError, match="JSON"):
        store.xcom_push(ti_key(run), "when", datetime(2024, 1, 1), T0)


def test_clearing_a_task_instances_xcoms_leaves_others(store: Store) -> None:
    run = make_run(store)
    store.xcom_push(ti_key(run), "a", 1, T0)
    store.xcom_push(ti_key(run, "load"), "b", 2, T0)
    assert store.clear_xcoms(ti_key(run)) == 1
    assert [x.task_id for x in store.list_xcoms(run.key)] == ["load"]


def test_an_xcom_page_filters_any_dag_run_and_task_in_airflows_order_and_counts_all_that_match(
        store: Store) -> None:
    later, earlier, other = make_run(store, day=2), make_run(store, day=1), make_run(store, "other", day=3)
    store.xcom_push(ti_key(later), "b", 1, T0)
    store.xcom_push(ti_key(later, "load"), "a", 2, T0)
    store.xcom_push(ti_key(earlier, "load"), "a", 3, T0)
    store.xcom_push(ti_key(other), "a", 4, T0)

    def found(**filters: Any) -> list[tuple[str, str, str]]:
        return [(x.run_id, x.task_id, x.key) for x in store.xcom_page(XComQuery(**filters)).items]

    assert found() == [(earlier.run_id, "load", "a"), (later.run_id, "extract", "b"), (later.run_id, "load", "a"),
                       (other.run_id, "extract", "a")]
    assert found(key="a", task_id="load") == [(earlier.run_id, "load", "a"), (later.run_id, "load", "a")]
    assert found(dag_id="etl", run_id=later.run_id) == [(later.run_id, "extract", "b"), (later.run_id, "load", "a")]
    assert found(hidden=frozenset({"etl"})) == [(other.run_id, "extract", "a")]
    assert found(map_index=0) == []
    page = store.xcom_page(XComQuery(offset=1, limit=2))
    assert [x.value for x in page.items] == [1, 2] and page.total == 4


def test_a_job_heartbeats_until_it_ends(store: Store) -> None:
    job = store.create_job("scheduler", "host", 10, T0)
    assert store.heartbeat_job(job.id, T0 + timedelta(seconds=5))
    assert store.get_job(job.id).latest_heartbeat == T0 + timedelta(seconds=5)
    assert store.end_job(job.id, "success", T0 + timedelta(seconds=6))
    assert not store.heartbeat_job(job.id, T0 + timedelta(seconds=7))


def test_live_jobs_are_found_by_recent_heartbeat(store: Store) -> None:
    old = store.create_job("worker", "a", 1, T0)
    new = store.create_job("worker", "b", 2, T0 + timedelta(minutes=5))
    found = store.list_jobs("worker", "running", heartbeat_after=T0 + timedelta(minutes=1))
    assert [j.id for j in found] == [new.id] and old.id != new.id


def test_a_missing_job_is_reported_by_id(store: Store) -> None:
    with pytest.raises(JobNotFound, match="999"):
        store.get_job(999)


def test_audit_rows_record_who_did_what_from_where(store: Store) -> None:
    store.audit("trigger", now=T0, source="cli", owner="ana", dag_id="etl", extra={"conf": {}})
    store.audit("pause", now=T0 + timedelta(seconds=1), source="ui", owner="bo", dag_id="etl")
    rows = store.list_audit(dag_id="etl")
    assert [(r.event, r.owner, r.source) for r in rows] == [("pause", "bo", "ui"), ("trigger", "ana", "cli")]
    assert rows[1].extra == '{"conf": {}}'


def test_an_unknown_audit_source_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="source"):
        store.audit("x", now=T0, source="email")
