"""`flowctl tasks clear | state | list | failed-deps` on a migrated SQLite database."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.records import DagRunRecord, TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import FILE, T0
from tests.cli.conftest import write_etl_dag, run_cli
from tests.db.test_operations import a_run, chain_dag, force

Out = pytest.CaptureFixture[str]


@pytest.fixture()
def store(tmp_path: Path, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A migrated database (the CLI's too) with the sample DAG ``etl`` synced."""
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    store = Store(make_engine(migrated_sqlite_url))
    store.sync_dag(chain_dag(), FILE, T0)
    write_etl_dag(tmp_path / "dags")
    yield store
    store.close()


def _failed_run(store: Store) -> DagRunRecord:
    run = a_run(store)
    force(store, run, "extract", "scheduled", "queued", "running", "success")
    force(store, run, "transform", "scheduled", "queued", "running", "failed")
    force(store, run, "load", "upstream_failed")
    force(store, run, "audit", "scheduled", "queued", "running", "success")
    assert store.set_run_state(run.key, "running", "failed")
    return run


def _states(store: Store, run: DagRunRecord) -> dict[str, str]:
    return {t.task_id: t.state for t in store.list_task_instances(run.key)}


def test_clear_with_a_regex_and_downstream_clears_those_tasks_and_requeues_the_run(store: Store,
                                                                                  capsys: Out) -> None:
    run = _failed_run(store)
    code, out, err = run_cli(capsys, "tasks", "clear", "etl", "-t", "^transform$", "--downstream", "--yes")
    assert code == 0, err
    assert "Cleared 2 task instance(s); 1 run(s) queued again." in out
    assert _states(store, run) == {"extract": "success", "transform": "pending", "load": "pending",
                                   "audit": "success"}
    assert store.get_run("etl", run.run_id).state == "queued"
    assert [a.event for a in store.list_audit("etl")] == ["cli_tasks_clear"]


def test_clear_only_failed_leaves_successful_tasks_alone(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    assert run_cli(capsys, "tasks", "clear", "etl", "--only-failed", "-y")[0] == 0
    assert _states(store, run)["extract"] == "success" and _states(store, run)["load"] == "pending"


def _running_run(store: Store) -> DagRunRecord:
    """extract succeeded, transform is running, load pending, audit failed."""
    run = a_run(store)
    force(store, run, "extract", "scheduled", "queued", "running", "success")
    force(store, run, "transform", "scheduled", "queued", "running")
    force(store, run, "audit", "scheduled", "queued", "running", "failed")
    return run


def test_r_is_only_running_as_in_airflow_and_clears_only_the_running_task_instances(store: Store,
                                                                                    capsys: Out) -> None:
    """Airflow 2's ``tasks clear -r`` is ``--only-running`` (before: -r took a run id)."""
    run = _running_run(store)
    code, out, err = run_cli(capsys, "tasks", "clear", "etl", "-r", "-y")
    assert code == 0, err
    assert "Cleared 1 task instance(s)" in out
    assert _states(store, run) == {"extract": "success", "transform": "pending", "load": "pending",
                                   "audit": "failed"}
    assert [r.key.task_id for r in store.kill_requests(since=T0)] == ["transform"]


def test_only_running_and_only_failed_together_clear_either(store: Store, capsys: Out) -> None:
    run = _running_run(store)
    assert run_cli(capsys, "tasks", "clear", "etl", "--only-running", "--only-failed", "-y")[0] == 0
    assert _states(store, run) == {"extract": "success", "transform": "pending", "load": "pending",
                                   "audit": "pending"}


def test_the_run_id_is_chosen_with_its_long_option_or_i(store: Store, capsys: Out) -> None:
    first, second = _failed_run(store), a_run(store, day=1)
    force(store, second, "extract", "scheduled", "queued", "running", "failed")
    assert run_cli(capsys, "tasks", "clear", "etl", "--run-id", second.run_id, "-f", "-y")[0] == 0
    assert _states(store, second)["extract"] == "pending" and _states(store, first)["transform"] == "failed"
    assert run_cli(capsys, "tasks", "clear", "etl", "-i", first.run_id, "-f", "-y")[0] == 0
    assert _states(store, first)["transform"] == "pending"


def test_dag_regex_clears_the_matching_dags_and_subdag_flags_are_accepted(store: Store, capsys: Out) -> None:
    """Airflow's -R/--dag-regex; -x/--exclude-subdags and -X/--exclude-parentdag change nothing
    (flowctl has no SubDAGs) but ported scripts pass them."""
    store.sync_dag(chain_dag("etl_copy"), FILE, T0)
    store.sync_dag(chain_dag("other"), FILE, T0)
    runs = {dag_id: a_run_of(store, dag_id) for dag_id in ("etl", "etl_copy", "other")}
    code, out, err = run_cli(capsys, "tasks", "clear", "^etl", "-R", "-t", "^transform$", "-f", "-x", "-X", "-y")
    assert code == 0, err
    assert {dag_id: _states(store, run)["transform"] for dag_id, run in runs.items()} == {
        "etl": "pending", "etl_copy": "pending", "other": "failed"}
    assert "etl_copy" in out and "other" not in out


def a_run_of(store: Store, dag_id: str) -> DagRunRecord:
    run = store.create_run(dag_id, "scheduled__0", run_type="scheduled", logical_date=T0, now=T0,
                           data_interval=(T0, T0))
    force(store, run, "transform", "scheduled", "queued", "running", "failed")
    return run


def test_a_dag_regex_that_matches_no_dag_says_so(store: Store, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "tasks", "clear", "^nothing", "-R", "-y")
    assert code == 3 and "no DAG matches '^nothing'" in err


def test_clear_upstream_includes_every_task_before_the_match(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    run_cli(capsys, "tasks", "clear", "etl", "-t", "load", "-u", "-y")
    assert _states(store, run) == {"extract": "pending", "transform": "pending", "load": "pending",
                                   "audit": "success"}


def test_clear_asks_first_and_a_no_changes_nothing_and_exits_0_as_airflow(store: Store, capsys: Out,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "flowctl: aborted", exit 1; Airflow 2 prints "Cancelled, nothing was cleared." and exits 0."""
    run = _failed_run(store)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, out, err = run_cli(capsys, "tasks", "clear", "etl", "-t", "transform")
    assert (code, err) == (0, "")
    assert "Clear these 1 task instance(s)?" in out and out.endswith("Cancelled, nothing was cleared.\n")
    assert _states(store, run)["transform"] == "failed"
    assert store.list_audit("etl") == []


def test_clear_outside_the_date_range_finds_nothing(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, out, _ = run_cli(capsys, "tasks", "clear", "etl", "-s", "2025-01-01", "-y")
    assert code == 0 and "No task instances to clear." in out


def test_clear_with_an_invalid_regex_exits_2_with_one_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, _, err = run_cli(capsys, "tasks", "clear", "etl", "-t", "[", "-y")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--task-regex" in err


def test_state_prints_the_task_state_alone_on_the_last_line(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    code, out, _ = run_cli(capsys, "tasks", "state", "etl", "transform", run.run_id)
    assert code == 0 and out.splitlines()[-1] == "failed"
    assert run_cli(capsys, "tasks", "state", "etl", "nope", run.run_id)[0] == 3


def test_state_takes_the_logical_date_of_the_run_instead_of_its_id(store: Store, capsys: Out) -> None:
    _failed_run(store)
    a_run(store, day=1)
    code, out, err = run_cli(capsys, "tasks", "state", "etl", "transform", "2024-01-01")
    assert code == 0, err
    assert out.splitlines()[-1] == "failed"
    assert run_cli(capsys, "tasks", "state", "etl", "transform", "2024-01-02T00:00:00+00:00")[1].split() == ["pending"]


def test_state_of_a_date_without_a_run_exits_3_with_one_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, out, err = run_cli(capsys, "tasks", "state", "etl", "transform", "2024-01-05")
    assert (code, out) == (3, "")
    assert err == "flowctl: error: no run of DAG 'etl' with run_id or logical date '2024-01-05'\n"


def test_state_of_neither_a_run_id_nor_a_date_exits_3_with_the_same_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, _, err = run_cli(capsys, "tasks", "state", "etl", "transform", "nope")
    assert code == 3
    assert err == "flowctl: error: no run of DAG 'etl' with run_id or logical date 'nope'\n"


def test_list_prints_task_ids_and_json_in_topological_order(store: Store, capsys: Out) -> None:
    assert run_cli(capsys, "tasks", "list", "etl")[1].split() == ["audit", "extract", "load", "transform"]
    rows = json.loads(run_cli(capsys, "tasks", "list", "etl", "-o", "json")[1])
    order = [r["task_id"] for r in rows]
    assert order.index("extract") < order.index("transform") < order.index("load")


def test_failed_deps_says_the_upstream_is_not_done_and_the_dag_is_paused(store: Store, capsys: Out) -> None:
    run = a_run(store)
    store.set_paused("etl", True)
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "load", run.run_id)
    assert code == 0
    assert "DAG 'etl' is paused" in out and "trigger rule all_success" in out and "1 unfinished" in out


def test_failed_deps_says_nothing_holds_a_ready_task(store: Store, capsys: Out) -> None:
    run = a_run(store)
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0 and "it can run" in out


@pytest.mark.parametrize(("pool", "slots", "reason"), [
    ("no_such_pool", 1, "pool 'no_such_pool' does not exist: create it with `flowctl pools set no_such_pool SLOTS "
                        "DESCRIPTION`, or change the task's pool"),
    ("default_pool", 500, "extract needs 500 slots of pool 'default_pool', which has 128 in all: it can never run "
                          "(grow the pool, or lower the task's pool_slots)")])
def test_failed_deps_says_when_no_pool_can_ever_hold_the_task(store: Store, capsys: Out, pool: str, slots: int,
                                                              reason: str) -> None:
    import sqlalchemy as sa

    run = a_run(store)
    extract = TaskInstanceKey("etl", run.run_id, "extract")
    assert store.set_task_state(extract, "pending", "scheduled")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE task_instance SET pool = :pool, pool_slots = :slots WHERE task_id = 'extract'"),
                     {"pool": pool, "slots": slots})
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0 and f"  - {reason}" in out.splitlines(), out


def test_failed_deps_takes_the_logical_date_of_the_run(store: Store, capsys: Out) -> None:
    run = a_run(store)
    code, out, err = run_cli(capsys, "tasks", "failed-deps", "etl", "load", "2024-01-01")
    assert code == 0, err
    assert f"etl.load in run {run.run_id} is not running because:" in out and "trigger rule all_success" in out


def test_usage_of_state_and_failed_deps_names_the_argument_as_airflow_does(capsys: Out) -> None:
    for command in ("state", "failed-deps"):
        code, out, _ = run_cli(capsys, "tasks", command, "--help")
        assert code == 0 and "DAG_ID TASK_ID EXECUTION_DATE_OR_RUN_ID" in " ".join(out.split()), command


def test_failed_deps_names_a_pool_without_slots(store: Store, capsys: Out) -> None:
    run = a_run(store)
    store.set_pool("default_pool", 1)
    force(store, run, "audit", "scheduled", "queued")
    assert store.set_task_state(TaskInstanceKey("etl", run.run_id, "extract"), "pending", "scheduled")
    out = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)[1]
    assert "waiting for a free slot" in out and "pool 'default_pool' has no open slots" in out


def test_failed_deps_of_a_sensor_between_pokes_says_when_it_pokes_again(store: Store, capsys: Out) -> None:
    from datetime import timedelta

    run = a_run(store)
    extract = TaskInstanceKey("etl", run.run_id, "extract")
    force(store, run, "extract", "scheduled", "queued")
    claim = store.start_try(extract, 0, "host", 1, T0)
    assert claim is not None
    again = T0 + timedelta(minutes=5)
    assert store.finish_try(extract, "up_for_reschedule", T0 + timedelta(seconds=1), running_try=1, started=T0,
                            reschedule_date=again)
    store.record_reschedule(extract, 1, T0, T0 + timedelta(seconds=1), again)
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0, out
    assert ("  - extract is a sensor between pokes (reschedule mode): 1 poke so far in try 1, the next at "
            "2024-01-01T00:05:00+00:00; its log says what the last poke saw") in out.splitlines(), out


def test_failed_deps_of_an_unknown_task_exits_3(store: Store, capsys: Out) -> None:
    run = a_run(store)
    assert run_cli(capsys, "tasks", "failed-deps", "etl", "nope", run.run_id)[0] == 3


FRESH = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("fresh", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
'''


def test_list_parses_a_dag_no_scheduler_has_seen_and_shows_it_as_edited(sqlite_home: Path, capsys: Out) -> None:
    dag_file = sqlite_home / "dags" / "fresh.py"
    dag_file.write_text(FRESH)
    assert run_cli(capsys, "tasks", "list", "fresh") == (0, "a\nb\n", "")
    dag_file.write_text(FRESH.replace('EmptyOperator(task_id="b")', 'EmptyOperator(task_id="c")'))
    assert run_cli(capsys, "tasks", "list", "fresh")[1] == "a\nc\n"
    assert "c (EmptyOperator)  <- a" in run_cli(capsys, "tasks", "list", "fresh", "--tree")[1]


def test_list_takes_a_subdir_and_names_a_dag_it_does_not_define(sqlite_home: Path, tmp_path: Path, capsys: Out) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "fresh.py").write_text(FRESH)
    assert run_cli(capsys, "tasks", "list", "fresh", "-S", str(other))[1] == "a\nb\n"
    code, out, err = run_cli(capsys, "tasks", "list", "nope", "-S", str(other))
    assert (code, out) == (3, "")
    assert err == f"flowctl: error: DAG 'nope' not found in {other}\n"


def test_states_for_dag_run_lists_every_task_state_of_the_run_by_date_or_run_id(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    code, out, err = run_cli(capsys, "tasks", "states-for-dag-run", "etl", "2024-01-01", "-o", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["task_id"]: r["state"] for r in rows} == {"audit": "success", "extract": "success",
                                                        "load": "upstream_failed", "transform": "failed"}
    assert {r["execution_date"] for r in rows} == {"2024-01-01T00:00:00+00:00"}
    table = run_cli(capsys, "tasks", "states-for-dag-run", "etl", run.run_id)[1].splitlines()
    assert table[0].split()[:4] == ["dag_id", "execution_date", "task_id", "map_index"] and len(table) == 6
    code, out, err = run_cli(capsys, "tasks", "states-for-dag-run", "etl", "2024-02-01")
    assert (code, out) == (3, "") and len(err.splitlines()) == 1


def test_a_clear_wakes_a_sleeping_scheduler_at_once(store: Store, capsys: Out) -> None:
    """Cleared tasks are work for the scheduler: it must not wait for its next timer to see them."""
    _running_run(store)
    listener = store.scheduler_listener()
    try:
        listener.drain()
        assert run_cli(capsys, "tasks", "clear", "etl", "--only-failed", "-y")[0] == 0
        assert listener.drain() == 1 and listener.reasons == ["tasks changed"]  # Store.clear_task_instances wakes it
    finally:
        listener.close()


def test_failed_deps_names_the_setup_a_task_of_its_scope_and_its_teardown_wait_for(store: Store, capsys: Out) -> None:
    from tests.db.test_run_marks import a_run as a_cluster_run

    run = a_cluster_run(store, create=("scheduled", "queued", "running"))
    out = run_cli(capsys, "tasks", "failed-deps", "cluster", "more", run.run_id)[1]
    assert "  - more: waits for setup task 'create' (running): it runs only once the setups of its scope " \
           "succeeded" in out, out
    out = run_cli(capsys, "tasks", "failed-deps", "cluster", "delete", run.run_id)[1]
    assert "  - delete: teardown of setup task 'create' (running): it runs once its upstream tasks are done if " \
           "one of its setups succeeded" in out, out


def test_failed_deps_says_a_deferred_task_waits_for_its_trigger(store: Store, capsys: Out) -> None:
    run = a_run(store)
    force(store, run, "extract", "scheduled", "queued", "running")
    key = TaskInstanceKey("etl", run.run_id, "extract")
    assert store.defer_try(key, store.get_task_instance(key).try_number, "flowctl.triggers.file.FileTrigger",
                           {"filepath": "/x"}, "execute_complete", {}, None, T0)
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0
    assert ("it is deferred: it waits for its trigger flowctl.triggers.file.FileTrigger (no triggerer has taken it "
            "yet (is `flowctl triggerer` running?)), then resumes in execute_complete()") in out


def test_failed_deps_of_a_queued_task_names_its_queue_and_the_worker_celery_needs_for_it(
        store: Store, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: only "extract is queued", for a task sent to a queue that no Celery worker listens to."""
    run = a_run(store)
    force(store, run, "extract", "scheduled")
    store.queue_scheduled_tasks(T0, 10)
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "celery")
    code, out, _ = run_cli(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0, out
    assert ("  - extract is queued on queue 'default' since 2024-01-01T00:00:00+00:00: the executor has it; a "
            "Celery worker listening to 'default' starts it (flowctl celery worker -q default)") in out.splitlines(), out
    assert "  - extract is queued" not in out.splitlines()


def test_state_of_an_expanded_mapped_task_without_map_index_names_its_indexes(store: Store, capsys: Out) -> None:
    """Before: "not found", as for a task that does not exist."""
    from flowctl.core.keys import RunKey

    run = a_run(store)
    assert store.expand_mapped_task(RunKey("etl", run.run_id), "transform", 3, T0)
    code, out, err = run_cli(capsys, "tasks", "state", "etl", "transform", run.run_id)
    assert (code, out) == (3, "")
    assert "mapped: give --map-index (0 to 2)" in err and len(err.splitlines()) == 1, err
    assert run_cli(capsys, "tasks", "state", "etl", "transform", run.run_id, "--map-index", "2")[1].split() == ["pending"]
