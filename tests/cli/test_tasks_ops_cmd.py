"""`flowctl tasks clear | state | list | failed-deps` on a migrated SQLite database."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.cli import main
from flowctl.db.engine import make_engine
from flowctl.db.records import DagRunRecord, TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import FILE, T0
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
    yield store
    store.close()


def _run(capsys: Out, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    code, out, err = _run(capsys, "tasks", "clear", "etl", "-t", "^transform$", "--downstream", "--yes")
    assert code == 0, err
    assert "Cleared 2 task instance(s); 1 run(s) queued again." in out
    assert _states(store, run) == {"extract": "success", "transform": "pending", "load": "pending",
                                   "audit": "success"}
    assert store.get_run("etl", run.run_id).state == "queued"
    assert [a.event for a in store.list_audit("etl")] == ["cli_tasks_clear"]


def test_clear_only_failed_leaves_successful_tasks_alone(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    assert _run(capsys, "tasks", "clear", "etl", "--only-failed", "-y")[0] == 0
    assert _states(store, run)["extract"] == "success" and _states(store, run)["load"] == "pending"


def test_clear_upstream_includes_every_task_before_the_match(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    _run(capsys, "tasks", "clear", "etl", "-t", "load", "-u", "-y")
    assert _states(store, run) == {"extract": "pending", "transform": "pending", "load": "pending",
                                   "audit": "success"}


def test_clear_asks_first_and_a_no_changes_nothing(store: Store, capsys: Out,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run = _failed_run(store)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, out, _ = _run(capsys, "tasks", "clear", "etl", "-t", "transform")
    assert code == 1 and "Clear these 1 task instance(s)?" in out
    assert _states(store, run)["transform"] == "failed"


def test_clear_outside_the_date_range_finds_nothing(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, out, _ = _run(capsys, "tasks", "clear", "etl", "-s", "2025-01-01", "-y")
    assert code == 0 and "No task instances to clear." in out


def test_clear_with_an_invalid_regex_exits_2_with_one_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, _, err = _run(capsys, "tasks", "clear", "etl", "-t", "[", "-y")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--task-regex" in err


def test_state_prints_the_task_state_alone_on_the_last_line(store: Store, capsys: Out) -> None:
    run = _failed_run(store)
    code, out, _ = _run(capsys, "tasks", "state", "etl", "transform", run.run_id)
    assert code == 0 and out.splitlines()[-1] == "failed"
    assert _run(capsys, "tasks", "state", "etl", "nope", run.run_id)[0] == 3


def test_state_takes_the_logical_date_of_the_run_instead_of_its_id(store: Store, capsys: Out) -> None:
    _failed_run(store)
    a_run(store, day=1)
    code, out, err = _run(capsys, "tasks", "state", "etl", "transform", "2024-01-01")
    assert code == 0, err
    assert out.splitlines()[-1] == "failed"
    assert _run(capsys, "tasks", "state", "etl", "transform", "2024-01-02T00:00:00+00:00")[1].split() == ["pending"]


def test_state_of_a_date_without_a_run_exits_3_with_one_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, out, err = _run(capsys, "tasks", "state", "etl", "transform", "2024-01-05")
    assert (code, out) == (3, "")
    assert err == "flowctl: error: no run of DAG 'etl' with run_id or logical date '2024-01-05'\n"


def test_state_of_neither_a_run_id_nor_a_date_exits_3_with_the_same_line(store: Store, capsys: Out) -> None:
    _failed_run(store)
    code, _, err = _run(capsys, "tasks", "state", "etl", "transform", "nope")
    assert code == 3
    assert err == "flowctl: error: no run of DAG 'etl' with run_id or logical date 'nope'\n"


def test_list_prints_task_ids_and_json_in_topological_order(store: Store, capsys: Out) -> None:
    assert _run(capsys, "tasks", "list", "etl")[1].split() == ["audit", "extract", "load", "transform"]
    rows = json.loads(_run(capsys, "tasks", "list", "etl", "-o", "json")[1])
    order = [r["task_id"] for r in rows]
    assert order.index("extract") < order.index("transform") < order.index("load")


def test_failed_deps_says_the_upstream_is_not_done_and_the_dag_is_paused(store: Store, capsys: Out) -> None:
    run = a_run(store)
    store.set_paused("etl", True)
    code, out, _ = _run(capsys, "tasks", "failed-deps", "etl", "load", run.run_id)
    assert code == 0
    assert "DAG 'etl' is paused" in out and "trigger rule all_success" in out and "1 unfinished" in out


def test_failed_deps_says_nothing_holds_a_ready_task(store: Store, capsys: Out) -> None:
    run = a_run(store)
    code, out, _ = _run(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
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
    code, out, _ = _run(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)
    assert code == 0 and f"  - {reason}" in out.splitlines(), out


def test_failed_deps_takes_the_logical_date_of_the_run(store: Store, capsys: Out) -> None:
    run = a_run(store)
    code, out, err = _run(capsys, "tasks", "failed-deps", "etl", "load", "2024-01-01")
    assert code == 0, err
    assert f"etl.load in run {run.run_id} is not running because:" in out and "trigger rule all_success" in out


def test_usage_of_state_and_failed_deps_names_the_argument_as_airflow_does(capsys: Out) -> None:
    for command in ("state", "failed-deps"):
        code, out, _ = _run(capsys, "tasks", command, "--help")
        assert code == 0 and "DAG_ID TASK_ID EXECUTION_DATE_OR_RUN_ID" in " ".join(out.split()), command


def test_failed_deps_names_a_pool_without_slots(store: Store, capsys: Out) -> None:
    run = a_run(store)
    store.set_pool("default_pool", 1)
    force(store, run, "audit", "scheduled", "queued")
    assert store.set_task_state(TaskInstanceKey("etl", run.run_id, "extract"), "pending", "scheduled")
    out = _run(capsys, "tasks", "failed-deps", "etl", "extract", run.run_id)[1]
    assert "waiting for a free slot" in out and "pool 'default_pool' has no open slots" in out


def test_failed_deps_of_an_unknown_task_exits_3(store: Store, capsys: Out) -> None:
    run = a_run(store)
    assert _run(capsys, "tasks", "failed-deps", "etl", "nope", run.run_id)[0] == 3
