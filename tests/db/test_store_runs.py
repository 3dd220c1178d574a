"""The Store's DAG and run verbs, on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import timedelta, timezone
from typing import Any

import pytest
import sqlalchemy

from flowctl.core.errors import DagNotFound, DagRunAlreadyExists, DagRunNotFound
from flowctl.db.records import RunKey
from flowctl.db.store import Store
from tests.db.samples import FILE, T0, make_run, serialized, ti_key


def test_syncing_an_unchanged_dag_keeps_one_serialized_version(store: Store) -> None:
    first = store.sync_dag(serialized(), FILE, T0)
    again = store.sync_dag(serialized(), FILE, T0 + timedelta(minutes=1))
    assert (first.id, first.version_number) == (again.id, 1)
    assert store.get_dag("etl").last_parsed_time == T0 + timedelta(minutes=1)


def test_syncing_a_changed_dag_adds_a_version_and_old_runs_keep_theirs(store: Store) -> None:
    run = make_run(store)
    new = store.sync_dag(serialized(tasks=("extract", "load", "report")), FILE, T0)
    assert new.version_number == 2
    assert store.latest_serialized_dag("etl").id == new.id
    assert store.get_run("etl", run.run_id).serialized_dag_id != new.id
    assert len(store.get_serialized_dag(run.serialized_dag_id or 0).data["tasks"]) == 2


def test_a_dag_that_changes_at_every_parse_keeps_only_its_two_newest_unused_versions(store: Store) -> None:
    ids = [store.sync_dag(serialized(description=f"built at minute {minute}"), FILE,
                          T0 + timedelta(minutes=minute)).id for minute in range(6)]
    assert [store.get_serialized_dag(n).version_number for n in ids if _exists(store, n)] == [5, 6]


def test_versions_that_runs_use_are_kept_when_old_versions_are_dropped(store: Store) -> None:
    run = make_run(store)
    ids = [run.serialized_dag_id or 0] + [store.sync_dag(serialized(description=f"built at minute {minute}"), FILE,
                                                         T0 + timedelta(minutes=minute)).id for minute in range(1, 5)]
    assert store.get_run("etl", run.run_id).serialized_dag_id == ids[0]
    assert [store.get_serialized_dag(n).version_number for n in ids if _exists(store, n)] == [1, 4, 5]


def _exists(store: Store, serialized_dag_id: int) -> bool:
    try:
        store.get_serialized_dag(serialized_dag_id)
    except DagNotFound:
        return False
    return True


def test_the_dag_row_reflects_the_serialized_dag(store: Store) -> None:
    store.sync_dag(serialized(is_paused_upon_creation=True), FILE, T0)
    dag = store.get_dag("etl")
    assert (dag.owners, dag.tags, dag.is_paused, dag.is_active, dag.fileloc) == ("data", ("daily",), True, True, FILE)


def test_a_new_dag_starts_paused_when_dags_are_paused_at_creation(store: Store) -> None:
    store.sync_dag(serialized("plain"), FILE, T0, paused_at_creation=True)
    store.sync_dag(serialized("unsaid", is_paused_upon_creation=None), "/dags/unsaid.py", T0, paused_at_creation=True)
    assert store.get_dag("plain").is_paused and store.get_dag("unsaid").is_paused


def test_a_dags_own_is_paused_upon_creation_wins_over_the_default(store: Store) -> None:
    store.sync_dag(serialized("runs", is_paused_upon_creation=False), FILE, T0, paused_at_creation=True)
    store.sync_dag(serialized("waits", is_paused_upon_creation=True), "/dags/waits.py", T0, paused_at_creation=False)
    assert not store.get_dag("runs").is_paused
    assert store.get_dag("waits").is_paused


def test_a_dag_that_exists_already_is_never_paused_again_by_a_sync(store: Store) -> None:
    store.sync_dag(serialized(), FILE, T0)
    store.sync_dag(serialized(tasks=("extract",)), FILE, T0 + timedelta(minutes=1), paused_at_creation=True)
    assert not store.get_dag("etl").is_paused


def test_pausing_an_unknown_dag_names_it(store: Store) -> None:
    with pytest.raises(DagNotFound, match="'nope'"):
        store.set_paused("nope", True)


def test_pausing_and_unpausing_a_dag(store: Store) -> None:
    store.sync_dag(serialized(), FILE, T0)
    store.set_paused("etl", True)
    assert store.get_dag("etl").is_paused
    store.set_paused("etl", False)
    assert not store.get_dag("etl").is_paused


def test_dags_of_vanished_files_become_inactive(store: Store) -> None:
    store.sync_dag(serialized("a"), "/dags/a.py", T0)
    store.sync_dag(serialized("b"), "/dags/b.py", T0)
    assert store.mark_dags_inactive(["/dags/a.py"]) == 1
    assert [d.dag_id for d in store.list_dags()] == ["a"]
    assert [d.dag_id for d in store.list_dags(is_active=None)] == ["a", "b"]


def test_import_errors_are_replaced_per_parsed_file(store: Store) -> None:
    store.record_import_errors(["/dags/x.py"], {"/dags/x.py": "SyntaxError"}, T0)
    assert [e.filename for e in store.list_import_errors()] == ["/dags/x.py"]
    store.record_import_errors(["/dags/x.py"], {}, T0)
    assert store.list_import_errors() == []


def test_a_file_that_stays_broken_keeps_its_import_error_id_with_the_new_traceback(store: Store) -> None:
    later = T0 + timedelta(minutes=5)
    store.record_import_errors(["/dags/x.py", "/dags/y.py"], {"/dags/x.py": "SyntaxError", "/dags/y.py": "E"}, T0)
    first = {e.filename: e.id for e in store.list_import_errors()}
    store.record_import_errors(["/dags/x.py"], {"/dags/x.py": "NameError: x"}, later)
    again = store.get_import_error(first["/dags/x.py"])
    assert (again.filename, again.stacktrace, again.timestamp) == ("/dags/x.py", "NameError: x", later)
    assert store.get_import_error(first["/dags/y.py"]).stacktrace == "E"  # not parsed this time: kept


def test_a_fixed_file_loses_its_import_error_and_a_new_break_gets_a_new_id(store: Store) -> None:
    store.record_import_errors(["/dags/x.py"], {"/dags/x.py": "SyntaxError"}, T0)
    [old] = store.list_import_errors()
    store.record_import_errors(["/dags/x.py"], {}, T0)
    with pytest.raises(LookupError, match=f"import error {old.id} not found"):
        store.get_import_error(old.id)
    store.record_import_errors(["/dags/x.py"], {"/dags/x.py": "SyntaxError"}, T0)
    [new] = store.list_import_errors()
    assert new.id != old.id


@pytest.mark.parametrize("import_error_id", [0, -1, 2**31, 10**20])
def test_an_import_error_id_out_of_range_is_not_found(store: Store, import_error_id: int) -> None:
    with pytest.raises(LookupError, match="not found"):
        store.get_import_error(import_error_id)


def test_creating_a_run_creates_pending_task_instances_from_the_serialized_dag(store: Store) -> None:
    run = make_run(store)
    tis = store.list_task_instances(run.key)
    assert [(t.task_id, t.state, t.try_number, t.max_tries, t.priority_weight) for t in tis] == [
        ("extract", "pending", 0, 2, 3), ("load", "pending", 0, 2, 3)]
    assert run.state == "queued" and run.logical_date == T0 and run.data_interval_end == T0 + timedelta(days=1)


def test_each_version_of_a_dag_gives_its_runs_the_priority_weights_of_its_own_structure(store: Store) -> None:
    def version(tasks: list[str]) -> dict[str, Any]:  # a chain: weight_rule downstream counts what follows
        return {"dag_id": "w", "tasks": [{"task_id": t, "upstream_task_ids": tasks[:i][-1:]} for i, t in enumerate(tasks)]}

    def weights(day: int) -> dict[str, int]:
        run = store.create_run("w", f"r{day}", run_type="manual", logical_date=T0 + timedelta(days=day), now=T0)
        return {t.task_id: t.priority_weight for t in store.list_task_instances(run.key)}

    store.sync_dag(version(["a", "b"]), FILE, T0)
    assert weights(0) == weights(1) == {"a": 2, "b": 1}
    store.sync_dag(version(["a", "b", "c"]), FILE, T0)
    assert weights(2) == {"a": 3, "b": 2, "c": 1}


def test_a_duplicate_run_id_is_refused_by_name(store: Store) -> None:
    run = make_run(store)
    with pytest.raises(DagRunAlreadyExists, match=re.escape(run.run_id)):
        store.create_run("etl", run.run_id, run_type="manual", logical_date=T0 + timedelta(hours=1), now=T0)


def test_a_duplicate_logical_date_is_refused_naming_the_date(store: Store) -> None:
    make_run(store)
    with pytest.raises(DagRunAlreadyExists, match="2024-01-01T00:00:00"):
        store.create_run("etl", "other", run_type="manual", logical_date=T0, now=T0)


def test_a_run_of_a_never_parsed_dag_is_refused(store: Store) -> None:
    with pytest.raises(DagNotFound, match="'ghost'"):
        store.create_run("ghost", "r1", run_type="manual", logical_date=T0, now=T0)


def test_an_unknown_run_type_is_refused(store: Store) -> None:
    store.sync_dag(serialized(), FILE, T0)
    with pytest.raises(ValueError, match="run_type"):
        store.create_run("etl", "r1", run_type="cron", logical_date=T0, now=T0)


def test_a_missing_run_is_reported_by_id(store: Store) -> None:
    with pytest.raises(DagRunNotFound, match="'nope'"):
        store.get_run("etl", "nope")


def test_runs_are_listed_newest_first_and_filtered_by_state(store: Store) -> None:
    runs = [make_run(store, day=d) for d in range(3)]
    assert [r.run_id for r in store.list_runs("etl")] == [r.run_id for r in reversed(runs)]
    assert store.set_run_state(runs[0].key, "queued", "running", start_date=T0)
    assert [r.run_id for r in store.list_runs(state="running")] == [runs[0].run_id]


def test_conf_round_trips_as_json(store: Store) -> None:
    store.sync_dag(serialized(), FILE, T0)
    run = store.create_run("etl", "m1", run_type="manual", logical_date=T0, now=T0, conf={"n": [1, 2]})
    assert store.get_run("etl", "m1").conf == {"n": [1, 2]} and run.external_trigger


def test_times_come_back_timezone_aware_utc(store: Store) -> None:
    run = make_run(store)
    fetched = store.get_run(run.dag_id, run.run_id)
    assert fetched.logical_date.utcoffset() == timedelta(0) and fetched.queued_at == T0


def test_next_dagrun_fields_are_stored(store: Store) -> None:
    store.sync_dag(serialized(), FILE, T0)
    store.set_next_dagrun("etl", T0, (T0, T0 + timedelta(days=1)), T0 + timedelta(days=1))
    dag = store.get_dag("etl")
    assert (dag.next_dagrun, dag.next_dagrun_create_after) == (T0, T0 + timedelta(days=1))


def test_run_state_compare_and_set_reports_who_won(store: Store) -> None:
    run = make_run(store)
    assert store.set_run_state(RunKey("etl", run.run_id), "queued", "running")
    assert not store.set_run_state(RunKey("etl", run.run_id), "queued", "running")
    assert store.get_run("etl", run.run_id).state == "running"


def test_queueing_skips_its_idle_probe_only_when_the_caller_has_seen_scheduled_tasks(store: Store) -> None:
    import sqlalchemy as sa

    from flowctl.core.keys import TaskInstanceKey

    run = make_run(store)
    store.set_run_state(run, "queued", "running", start_date=T0)
    seen: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(" ".join(args[2].split())))

    def probes() -> int:
        return sum(1 for s in seen if s.startswith("SELECT task_instance.id FROM task_instance WHERE "
                                                   "task_instance.state = ") and "JOIN" not in s)

    assert store.queue_scheduled_tasks(T0, 8) == []  # nothing scheduled: the probe alone, no write
    assert probes() == 1 and not [s for s in seen if s.startswith("UPDATE")]
    key = TaskInstanceKey(run.dag_id, run.run_id, "extract")
    store.apply_decisions(run.key, T0, schedule=[key])
    seen.clear()
    assert [q.key for q in store.queue_scheduled_tasks(T0, 8, known_scheduled=True)] == [key]
    assert probes() == 0


def test_queueing_schedules_the_decided_task_instances_first_in_the_same_transaction(store: Store) -> None:
    import sqlalchemy as sa

    from flowctl.core.keys import TaskInstanceKey

    run = make_run(store)
    store.set_run_state(run, "queued", "running", start_date=T0)
    extract, load = (TaskInstanceKey(run.dag_id, run.run_id, t) for t in ("extract", "load"))
    store.set_task_state(load, "pending", "skipped")  # moved on since the decision: left alone
    commits: list[str] = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append("commit"))
    queued = store.queue_scheduled_tasks(T0, 8, known_scheduled=True, schedule={run.key: [extract, load]})
    assert [q.key for q in queued] == [extract] and len(commits) == 1
    assert (store.get_task_instance(extract).state, store.get_task_instance(load).state) == ("queued", "skipped")


def test_decided_task_instances_are_scheduled_even_without_a_free_executor_slot(store: Store) -> None:
    from flowctl.core.keys import TaskInstanceKey

    run = make_run(store)
    store.set_run_state(run, "queued", "running", start_date=T0)
    extract = TaskInstanceKey(run.dag_id, run.run_id, "extract")
    assert store.queue_scheduled_tasks(T0, 0, schedule={run.key: [extract]}) == []
    assert store.get_task_instance(extract).state == "scheduled"


def test_a_runs_task_instances_hold_exactly_the_dags_values_whatever_characters_they_contain(store: Store) -> None:
    awkward = {"queue": 'q,"1"\n\\N', "pool": "", "operator": None, "executor": "celery\t2"}
    data = serialized(tasks=())
    data["tasks"] = [{"task_id": "plain", "operator": "BashOperator", "retries": 1, "executor": ""},
                     {"task_id": "odd.one-2", "priority_weight": 5, "pool_slots": 2, **awkward}]
    store.sync_dag(data, FILE, T0)
    run = store.create_run("etl", "r1", run_type="manual", logical_date=T0, now=T0)
    rows = {ti.task_id: ti for ti in store.list_task_instances(RunKey("etl", "r1"))}
    plain, odd = rows["plain"], rows["odd.one-2"]
    assert (plain.queue, plain.pool, plain.operator, plain.executor, plain.max_tries, plain.map_index) == (
        "default", "default_pool", "BashOperator", "", 1, -1)
    # An empty pool name means the default pool, as Airflow's; None stays NULL, '' is not NULL.
    assert (odd.queue, odd.pool, odd.operator, odd.executor, odd.pool_slots) == (
        'q,"1"\n\\N', "default_pool", None, "celery\t2", 2)
    assert (odd.state, odd.try_number, odd.priority_weight, plain.priority_weight) == ("pending", 0, 5, 1)
    assert run.state == "queued"


def test_a_task_instance_the_database_refuses_fails_the_whole_run_creation_with_sqlalchemys_error(
        pg_store: Store) -> None:
    data = serialized(tasks=("ok",))
    data["tasks"].append({"task_id": "x" * 300})  # longer than the column (PostgreSQL checks it)
    pg_store.sync_dag(data, FILE, T0)
    with pytest.raises(sqlalchemy.exc.DataError, match="value too long"):
        pg_store.create_run("etl", "r1", run_type="manual", logical_date=T0, now=T0)
    with pytest.raises(DagRunNotFound):  # nothing of it was written
        pg_store.get_run("etl", "r1")
    assert pg_store.list_task_instances(RunKey("etl", "r1")) == []


def test_expanding_a_mapped_task_makes_its_instances_from_the_placeholder(store: Store) -> None:
    run = make_run(store)
    later = (T0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))  # the same instant, elsewhere
    placeholder = store.get_task_instance(ti_key(run))
    assert store.expand_mapped_task(RunKey("etl", run.run_id), "extract", 40, later)
    mapped = [ti for ti in store.list_task_instances(RunKey("etl", run.run_id)) if ti.task_id == "extract"]
    assert sorted(ti.map_index for ti in mapped) == list(range(40))
    for ti in mapped:
        assert (ti.state, ti.try_number, ti.max_tries, ti.queue, ti.pool, ti.pool_slots, ti.priority_weight,
                ti.operator, ti.executor) == ("pending", 0, 2, placeholder.queue, placeholder.pool, 1,
                                              placeholder.priority_weight, "BashOperator", None)
        assert ti.updated_at == later and ti.updated_at.tzinfo is not None
    assert not store.expand_mapped_task(RunKey("etl", run.run_id), "extract", 40, later)  # expanded once


def _scheduled_run_with(store: Store, tasks: dict[str, tuple[str, int, int]]) -> Any:
    """A running run whose task instances (task_id -> (pool, pool_slots, priority)) are all scheduled."""
    from flowctl.core.keys import TaskInstanceKey

    store.sync_dag(serialized(tasks=tuple(tasks)), FILE, T0)
    run = store.create_run("etl", "manual__1", run_type="manual", logical_date=T0, now=T0, state="running")
    with store.engine.begin() as conn:
        for task_id, (pool, slots, priority) in tasks.items():
            conn.execute(sqlalchemy.text("UPDATE task_instance SET state = 'scheduled', pool = :pool, "
                                         "pool_slots = :slots, priority_weight = :priority WHERE task_id = :task"),
                         {"pool": pool, "slots": slots, "priority": priority, "task": task_id})
    return run, {t: TaskInstanceKey(run.dag_id, run.run_id, t) for t in tasks}


def test_task_instances_no_pool_can_ever_hold_do_not_crowd_out_the_others(store: Store) -> None:
    """A missing pool, or more pool_slots than the pool has, would keep such task instances first
    among the candidates every round (highest priority) and the runnable ones never looked at."""
    _, keys = _scheduled_run_with(store, {"ghost": ("no_such_pool", 1, 9), "greedy": ("default_pool", 500, 8),
                                          "fine": ("default_pool", 1, 1)})
    queued = store.queue_scheduled_tasks(T0, 8, known_scheduled=True, limit=1)
    assert [q.key for q in queued] == [keys["fine"]]


def test_the_scheduled_task_instances_no_pool_can_ever_hold_are_listed_with_the_reason(store: Store) -> None:
    _, keys = _scheduled_run_with(store, {"ghost": ("no_such_pool", 1, 9), "greedy": ("default_pool", 500, 8),
                                          "fine": ("default_pool", 1, 1)})
    stuck = {s.key: s.reason for s in store.unrunnable_scheduled()}
    assert stuck == {keys["ghost"]: "pool 'no_such_pool' does not exist",
                     keys["greedy"]: "it needs 500 slots of pool 'default_pool', which has 128 in all"}


@pytest.mark.parametrize("run_id", ["a/b", "with space", "x" * 251, "nul\x00byte", "semi;colon"])
def test_a_run_id_outside_airflows_allowed_pattern_is_refused_before_the_database(store: Store, run_id: str) -> None:
    """Before: "a/b" made a run no page or API could reach; 300 characters or a NUL gave a 500 on PostgreSQL."""
    from flowctl.core.errors import ParamValidationError

    store.sync_dag(serialized("etl"), FILE, T0)
    with pytest.raises(ParamValidationError, match=r"run id .* (may only hold|longer than 250)"):
        store.trigger_dag("etl", now=T0, run_id=run_id)
    assert store.list_runs("etl") == []


def test_the_run_ids_flowctl_makes_and_airflow_allows_are_accepted(store: Store) -> None:
    store.sync_dag(serialized("etl"), FILE, T0)
    for n, run_id in enumerate(["manual__2024-01-01T00:00:00+00:00", "my.run~1:A+b-c_d", "x" * 250]):
        store.trigger_dag("etl", now=T0, run_id=run_id, logical_date=T0 + timedelta(days=n))
    assert len(store.list_runs("etl")) == 3


def test_a_logical_date_in_the_last_year_a_datetime_can_hold_is_refused() -> None:
    """Before: accepted, then every task failed computing tomorrow_ds (OverflowError)."""
    from datetime import datetime

    from flowctl.core.errors import ParamValidationError
    from flowctl.core.keys import check_logical_date

    check_logical_date(datetime(9998, 12, 31, tzinfo=timezone.utc))
    with pytest.raises(ParamValidationError, match="before the year 9999"):
        check_logical_date(datetime(9999, 12, 31, tzinfo=timezone.utc))


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("conf", [{"a": float("nan")}, {"a": float("inf")}, {"deep": _nested(5000)},
                                  {"a": ["ok", "\ud800"]}, {"\udfff": 1}])
def test_a_conf_that_is_not_plain_json_is_refused(store: Store, conf: Any) -> None:
    """Before: NaN and Infinity were stored and every later run list was invalid JSON; deep nesting a 500;
    a lone surrogate (a JSON ``\\ud800`` escape read from a form or the CLI) was stored, which UTF-8 cannot
    encode."""
    from flowctl.core.errors import ParamValidationError

    store.sync_dag(serialized("etl"), FILE, T0)
    with pytest.raises(ParamValidationError, match="conf"):
        store.trigger_dag("etl", now=T0, conf=conf)
    with pytest.raises(ParamValidationError, match="conf"):  # backfills and operators too: every run is made here
        store.create_run("etl", "backfill_1", run_type="backfill", logical_date=T0, now=T0, conf=conf)
    assert store.list_runs("etl") == []


def test_conf_nesting_is_limited_the_same_on_every_python(store: Store) -> None:
    """Before: the limit was Python's recursion limit, so on 3.13 (a deeper C stack) a conf 5,000 deep
    was stored; now a conf deeper than MAX_CONF_DEPTH is refused on every interpreter, and one at it kept."""
    from flowctl.core.errors import ParamValidationError
    from flowctl.core.keys import MAX_CONF_DEPTH

    store.sync_dag(serialized("etl"), FILE, T0)
    # {"deep": _nested(n)} nests n + 2 containers: the conf's object, then n + 1 lists
    with pytest.raises(ParamValidationError, match=f"nested more than {MAX_CONF_DEPTH} levels deep"):
        store.trigger_dag("etl", now=T0, conf={"deep": _nested(MAX_CONF_DEPTH - 1)})
    assert store.list_runs("etl") == []
    run = store.trigger_dag("etl", now=T0, conf={"deep": _nested(MAX_CONF_DEPTH - 2)})
    assert store.get_run("etl", run.run_id).conf == {"deep": _nested(MAX_CONF_DEPTH - 2)}


def test_a_connection_stored_with_a_port_now_refused_still_loads(store: Store) -> None:
    """The range check is for input: rows written before it (the CLI took --conn-port 70000) must not
    break every page and command that lists connections."""
    from flowctl.core.connection import Connection, ConnectionFormatError, from_json_dict

    store.add_connection(Connection(conn_id="old", conn_type="http", port=70000))
    assert [c.port for c in store.list_connections()] == [70000]
    with pytest.raises(ConnectionFormatError, match="port 70000"):
        from_json_dict("new", {"conn_type": "http", "port": 70000})


def test_a_logical_date_in_the_year_1_is_refused_too() -> None:
    from datetime import datetime

    from flowctl.core.errors import ParamValidationError
    from flowctl.core.keys import check_logical_date

    with pytest.raises(ParamValidationError, match="after the year 1"):
        check_logical_date(datetime(1, 1, 1, tzinfo=timezone.utc))


def test_a_database_other_than_sqlite_or_postgresql_is_one_config_error() -> None:
    """Before: a mysql:// URL was a 54-line ModuleNotFoundError traceback."""
    from flowctl.core.errors import ConfigError
    from flowctl.db.engine import make_engine

    with pytest.raises(ConfigError, match="names a mysql database; flowctl's metadata database is SQLite or PostgreSQL"):
        make_engine("mysql://u@localhost/x")
