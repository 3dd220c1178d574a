"""`flowctl dags backfill` on DAGs no scheduler has parsed: it parses and stores them itself."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.cli.conftest import write_etl_dag, run_cli

Out = pytest.CaptureFixture[str]

FRESH = '''
from datetime import datetime
from flowctl import DAG
from flowctl.models.param import Param
from flowctl.operators.empty import EmptyOperator

with DAG("fresh", schedule="@daily", start_date=datetime(2024, 1, 1), params={"n": Param(1, type="integer")}):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
'''


@pytest.fixture()
def store(sqlite_home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    """The CLI's database, and a DAG file ``fresh`` that no scheduler has parsed."""
    (sqlite_home / "dags" / "fresh.py").write_text(FRESH)
    store = Store(make_engine(migrated_sqlite_url))
    yield store
    store.close()


def _finish_runs_when_created(store: Store, dag_id: str, count: int) -> threading.Thread:
    """Play the scheduler: once ``count`` backfill runs of ``dag_id`` exist and are queued, finish them."""
    def finish() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = [r for r in store.list_runs(dag_id) if r.run_type == "backfill" and r.state == "queued"]
            if len(runs) == count:
                for r in runs:
                    store.set_run_state_manually(r.key, "queued", "success")
                return
            time.sleep(0.05)
    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    return thread


def test_a_dry_run_of_a_dag_no_scheduler_has_parsed_lists_its_dates(store: Store, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-02", "--dry-run")
    assert code == 0, err
    assert out.count("create") == 2 and "Dry run: 2 run(s)" in out
    assert store.list_runs("fresh") == []


def test_backfill_stores_the_dag_as_its_file_defines_it_now_before_creating_runs(store: Store, sqlite_home: Path,
                                                                                 capsys: Out) -> None:
    dag_file = sqlite_home / "dags" / "fresh.py"
    assert run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-01", "--dry-run")[0] == 0
    dag_file.write_text(FRESH.replace('EmptyOperator(task_id="b")', 'EmptyOperator(task_id="c")'))
    thread = _finish_runs_when_created(store, "fresh", 1)
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-02", "-e", "2024-01-02")
    thread.join()
    assert code == 0, out + err
    run = store.list_runs("fresh")[0]
    assert sorted(t.task_id for t in store.list_task_instances(run.key)) == ["a", "c"]
    assert [t["task_id"] for t in store.get_serialized_dag(run.serialized_dag_id).data["tasks"]] == ["a", "c"]


def test_backfill_conf_goes_to_the_runs_it_creates_and_is_checked_against_params(store: Store, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-01", "-c", '{"n": "x"}')
    assert code == 1 and "n" in err and len(err.splitlines()) == 1
    assert store.list_runs("fresh") == []
    thread = _finish_runs_when_created(store, "fresh", 1)
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-01",
                          "--conf", '{"n": 5}')
    thread.join()
    assert code == 0, out + err
    assert dict(store.list_runs("fresh")[0].conf) == {"n": 5}


def test_a_dry_run_refuses_the_conf_the_backfill_would_refuse(store: Store, capsys: Out) -> None:
    """Before: --dry-run skipped the params check and exited 0."""
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-02",
                             "-c", '{"n": "x"}', "--dry-run")
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and "'n'" in err, out + err


@pytest.mark.parametrize("dry_run", [("--dry-run",), ()])
def test_a_range_over_the_cap_of_backfill_runs_is_refused_naming_the_cap_and_its_date(
        store: Store, capsys: Out, dry_run: tuple[str, ...]) -> None:
    """Before: it stopped at 10,000 runs (in 2051) and said "Dry run: 10000 run(s)"."""
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "1900-01-01", "-e", "9000-01-01", *dry_run)
    assert code == 1 and out == "" and len(err.splitlines()) == 1, out + err
    assert "10000" in err and "2051-05-18" in err
    assert store.list_runs("fresh") == []


def test_backfill_conf_that_is_not_a_json_object_exits_2_with_one_line(store: Store, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-01", "-c", "[1]")
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and "--conf" in err


def test_reset_dagruns_asks_then_reruns_every_task_of_an_existing_successful_run(store: Store, sqlite_home: Path,
                                                                               capsys: Out,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_etl_dag(sqlite_home / "dags")
    thread = _finish_runs_when_created(store, "etl", 1)
    assert run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01")[0] == 0
    thread.join()
    run = store.list_runs("etl")[0]
    assert run.state == "success"
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, _, _ = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01", "--reset-dagruns")
    assert code == 1 and store.get_run("etl", run.run_id).state == "success"
    code, out, _ = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01",
                        "--reset-dagruns", "--dry-run")
    assert code == 0 and "reset (existing run is success)" in out
    thread = _finish_runs_when_created(store, "etl", 1)
    code, out, err = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01",
                          "--reset-dagruns", "-y")
    thread.join()
    assert code == 0, out + err
    assert "1 run(s) (0 new)" in out


def test_the_re_run_options_exclude_each_other(store: Store, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "backfill", "fresh", "-s", "2024-01-01", "-e", "2024-01-02",
                        "--reset-dagruns", "--reset-failed")
    assert code == 2 and "exclude each other" in err


def test_backfill_of_a_dag_in_no_file_exits_3_naming_the_folder(store: Store, sqlite_home: Path, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "dags", "backfill", "nope", "-s", "2024-01-01", "-e", "2024-01-02")
    assert (code, out) == (3, "")
    assert err == f"flowctl: error: DAG 'nope' not found in {sqlite_home / 'dags'}\n"


PAST = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("past", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="a", depends_on_past=True)
'''


def _fail_first_run_when_created(store: Store, stop: threading.Event) -> threading.Thread:
    """Play the scheduler: fail the first of two backfill runs of ``past``, start the second (whose
    depends_on_past task can then never run); unless ``stop`` is set within 15 s, finish it, so a
    backfill that misses the deadlock ends all the same."""
    def play() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = sorted((r for r in store.list_runs("past") if r.state == "queued"), key=lambda r: r.logical_date)
            if len(runs) == 2:
                break
            time.sleep(0.05)
        first, second = runs
        from flowctl.core.keys import TaskInstanceKey

        store.set_run_state(first.key, "queued", "running")
        store.set_task_state_manually(TaskInstanceKey("past", first.run_id, "a"), "pending", "failed")
        store.set_run_state_manually(first.key, "running", "failed")
        store.set_run_state(second.key, "queued", "running")
        if not stop.wait(15):
            store.set_run_state_manually(second.key, "running", "success")
    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_a_backfill_whose_runs_depends_on_past_holds_back_for_good_exits_1_saying_why(
        store: Store, sqlite_home: Path, capsys: Out) -> None:
    """Before: it watched for ever (the run waits for a person to clear the failed task); Airflow's
    backfill stops on such a deadlock and names depends_on_past."""
    (sqlite_home / "dags" / "past.py").write_text(PAST)
    stop = threading.Event()
    thread = _fail_first_run_when_created(store, stop)
    started = time.monotonic()
    code, out, err = run_cli(capsys, "dags", "backfill", "past", "-s", "2024-01-01", "-e", "2024-01-02")
    stop.set()
    assert code == 1, out + err
    assert time.monotonic() - started < 15
    assert "depends_on_past" in err and "backfill__2024-01-02" in err
    thread.join()
