"""The run CLI: dags trigger, pause, unpause, state, list-runs, delete, next-execution, backfill, test, kill-runs."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.xcom_values import TYPE_KEY
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.db.samples import FILE, T0
from tests.cli.conftest import write_etl_dag, run_cli
from tests.db.test_operations import chain_dag

Out = pytest.CaptureFixture[str]

PIPE = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator

OUT = Path(__file__).with_name("out.txt")

def write(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")

def boom():
    raise RuntimeError("boom on purpose")

with DAG("pipe", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False) as dag:
    first = PythonOperator(task_id="first", python_callable=write, op_args=["first"])
    second = PythonOperator(task_id="second", python_callable=write, op_args=["second"])
    first >> second

with DAG("mapped", schedule=None, start_date=datetime(2024, 1, 1)) as dag3:
    def numbers():
        return [[1], [2], [3]]
    src = PythonOperator(task_id="numbers", python_callable=numbers)
    PythonOperator.partial(task_id="each", python_callable=lambda n: write(f"n{n}")).expand(op_args=src.output)

with DAG("broken", schedule=None, start_date=datetime(2024, 1, 1)) as dag2:
    PythonOperator(task_id="fails", python_callable=boom) >> PythonOperator(task_id="after", python_callable=boom)
'''

DATES = '''
from datetime import datetime, timedelta
from pathlib import Path
from flowctl.decorators import dag, task

OUT = Path(__file__).with_name("out.txt")


def write(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False)
def dates():
    @task
    def interval_start(**context):
        return context["data_interval_start"]

    @task
    def next_days(first):
        return [(first + timedelta(days=n)).date() for n in (1, 2)]

    @task
    def each(day):
        write(f"each:{type(day).__name__}:{day.isoformat()}")

    @task
    def report(first, days):
        write(f"report:{type(first).__name__}:{first.isoformat()}:{type(days[0]).__name__}")

    first = interval_start()
    days = next_days(first)
    each.expand(day=days)
    report(first, days)


dates()
'''


@pytest.fixture()
def home(sqlite_home: Path) -> Path:
    """FLOWCTL_HOME in a temporary folder with a migrated database and a dags folder."""
    return sqlite_home


@pytest.fixture()
def store(home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    """The same database, with the sample DAG ``etl`` synced."""
    store = Store(make_engine(migrated_sqlite_url))
    store.sync_dag(chain_dag(), FILE, T0)
    write_etl_dag(home / "dags")
    yield store
    store.close()


def test_trigger_creates_a_queued_manual_run_with_conf(store: Store, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "dags", "trigger", "etl", "--conf", '{"day": "mon"}', "--run-id", "mine",
                          "--logical-date", "2024-02-01")
    assert code == 0, err
    assert "Created run mine of DAG etl (state: queued" in out
    run = store.get_run("etl", "mine")
    assert (run.run_type, dict(run.conf), run.logical_date) == (
        "manual", {"day": "mon"}, datetime(2024, 2, 1, tzinfo=timezone.utc))
    assert [a.event for a in store.list_audit("etl")] == ["cli_dags_trigger"]



def test_trigger_prints_the_new_run_as_yaml_data(store: Store, capsys: Out) -> None:
    import yaml

    code, out, err = run_cli(capsys, "dags", "trigger", "etl", "--run-id", "as-yaml", "-o", "yaml")
    assert code == 0, err
    [row] = yaml.safe_load(out)
    assert row["run_id"] == "as-yaml" and row["dag_id"] == "etl" and row["state"] == "queued"

def test_trigger_refuses_conf_that_is_not_a_json_object(store: Store, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "trigger", "etl", "--conf", "[1, 2")
    assert code == 2 and "--conf" in err and "not valid JSON" in err
    assert store.list_runs("etl") == []


def test_trigger_refuses_conf_nested_too_deeply_or_holding_nan_in_one_line(store: Store, capsys: Out) -> None:
    """Before: a RecursionError traceback; NaN was stored; a lone surrogate a UnicodeEncodeError traceback."""
    for conf in ("[" * 5000 + "]" * 5000, '{"a": NaN}', '{"a": "\\ud800"}'):
        code, _, err = run_cli(capsys, "dags", "trigger", "etl", "--conf", conf)
        assert code in (1, 2) and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert store.list_runs("etl") == []


def test_trigger_names_the_param_that_the_conf_breaks(store: Store, capsys: Out) -> None:
    params = {"n": {"value": 1, "has_value": True, "description": None, "schema": {"type": "integer"}}}
    store.sync_dag(chain_dag(params=params), FILE, T0)
    code, _, err = run_cli(capsys, "dags", "trigger", "etl", "--conf", '{"n": "x"}')
    assert code == 1 and err.startswith("flowctl: error: param 'n' is invalid")


def test_trigger_of_an_unknown_dag_exits_3_naming_it(store: Store, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "trigger", "nope")
    assert code == 3 and "'nope'" in err



@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("argv", [("dags", "trigger", "etl", "--logical-date"), ("dags", "list-runs", "etl", "-s"),
                                  ("dags", "backfill", "etl", "-e", "2024-01-02", "--dry-run", "-s"),
                                  ("dags", "backfill", "etl", "-s", "2024-01-01", "--dry-run", "-e")])
def test_a_date_off_the_calendar_in_utc_is_a_usage_error_in_one_line(store: Store, capsys: Out,
                                                                     argv: tuple[str, ...], date: str) -> None:
    """Before: an OverflowError traceback."""
    code, _, err = run_cli(capsys, *argv, date)
    assert code == 2 and "not between the years 1 and 9999 in UTC" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert store.list_runs("etl") == []

def test_pause_and_unpause_flip_the_flag(store: Store, capsys: Out) -> None:
    assert run_cli(capsys, "dags", "pause", "etl")[1].strip() == "Dag: etl, paused: True"
    assert store.get_dag("etl").is_paused
    assert run_cli(capsys, "dags", "unpause", "etl")[0] == 0
    assert not store.get_dag("etl").is_paused


def test_state_prints_the_run_state_alone_on_the_last_line(store: Store, capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1", conf={"a": 1})
    code, out, _ = run_cli(capsys, "dags", "state", "etl", "r1")
    assert code == 0 and out.splitlines()[-1] == "queued"
    assert run_cli(capsys, "dags", "state", "etl", "nope")[0] == 3


def test_state_takes_the_logical_date_of_a_run_as_airflow_does(store: Store, capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1", logical_date=datetime(2024, 2, 1, tzinfo=timezone.utc))
    for given in ("2024-02-01", "2024-02-01T00:00:00+00:00", "2024-02-01 00:00:00Z"):
        code, out, err = run_cli(capsys, "dags", "state", "etl", given)
        assert code == 0, err
        assert out.splitlines()[-1] == "queued"


def test_state_reads_a_naive_date_in_the_default_timezone(store: Store, capsys: Out,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__DEFAULT_TIMEZONE", "Europe/Amsterdam")
    assert run_cli(capsys, "dags", "trigger", "etl", "--run-id", "r1", "--logical-date", "2024-02-01")[0] == 0
    code, out, err = run_cli(capsys, "dags", "state", "etl", "2024-02-01")
    assert code == 0, err
    assert out.splitlines()[-1] == "queued"


def test_state_of_a_date_without_a_run_exits_3_with_one_line_naming_both_forms(store: Store,
                                                                                capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1", logical_date=datetime(2024, 2, 1, tzinfo=timezone.utc))
    code, out, err = run_cli(capsys, "dags", "state", "etl", "2024-02-02")
    assert (code, out) == (3, "")
    assert err == "flowctl: error: no run of DAG 'etl' with run_id or logical date '2024-02-02'\n"


def test_state_usage_names_the_argument_as_airflow_does(capsys: Out) -> None:
    code, out, _ = run_cli(capsys, "dags", "state", "--help")
    assert code == 0 and "DAG_ID EXECUTION_DATE_OR_RUN_ID" in " ".join(out.split())


def test_list_runs_filters_by_state_and_prints_json(store: Store, capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1")
    store.trigger_dag("etl", now=T0 + timedelta(days=1), run_id="r2")
    assert store.set_run_state(store.get_run("etl", "r2").key, "queued", "running")
    code, out, _ = run_cli(capsys, "dags", "list-runs", "etl", "--state", "running", "-o", "json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["r2"]
    assert "r1" in run_cli(capsys, "dags", "list-runs", "etl")[1]


def test_list_runs_says_on_stderr_when_the_limit_left_runs_out(store: Store, capsys: Out) -> None:
    """Before: the 101st run and older were silently left out."""
    for day in range(3):
        store.trigger_dag("etl", now=T0 + timedelta(days=day), run_id=f"r{day}")
    code, out, err = run_cli(capsys, "dags", "list-runs", "etl", "--limit", "2", "-o", "json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["r2", "r1"]
    assert err == "flowctl: only the newest 2 runs are listed; more match (raise --limit)\n"
    assert run_cli(capsys, "dags", "list-runs", "etl", "--limit", "3")[2] == ""


def test_list_runs_json_gives_the_logical_date_also_as_airflows_execution_date(store: Store, capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1")
    (row,) = json.loads(run_cli(capsys, "dags", "list-runs", "-d", "etl", "-o", "json")[1])
    assert row["logical_date"] == row["execution_date"] == T0.isoformat()


def test_list_runs_plain_is_the_table_without_its_rule_line(store: Store, capsys: Out) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1")
    lines = run_cli(capsys, "dags", "list-runs", "etl", "-o", "plain")[1].splitlines()
    assert lines[0].split()[:3] == ["dag_id", "run_id", "state"] and lines[1].split()[:2] == ["etl", "r1"]
    assert len(lines) == 2


def test_list_runs_takes_airflow_2_dag_id_flag_and_logical_date_range(store: Store, capsys: Out) -> None:
    for day in range(3):
        store.trigger_dag("etl", now=T0 + timedelta(days=day), run_id=f"r{day}")
    middle = (T0 + timedelta(days=1)).isoformat()
    code, out, err = run_cli(capsys, "dags", "list-runs", "-d", "etl", "-s", middle, "-e", middle, "-o", "json")
    assert code == 0, err
    assert [r["run_id"] for r in json.loads(out)] == ["r1"]
    code, out, _ = run_cli(capsys, "dags", "list-runs", "--dag-id", "etl", "--start-date", middle, "-o", "json")
    assert [r["run_id"] for r in json.loads(out)] == ["r2", "r1"]


def test_list_runs_without_a_dag_id_is_a_usage_error(capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "list-runs")
    assert code == 2 and "DAG_ID" in err


def test_delete_asks_first_and_removes_the_history_with_yes(store: Store, capsys: Out,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store.trigger_dag("etl", now=T0, run_id="r1")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    assert run_cli(capsys, "dags", "delete", "etl")[0] == 1
    assert store.list_runs("etl")
    code, out, _ = run_cli(capsys, "dags", "delete", "etl", "--yes")
    assert code == 0 and "1 run(s)" in out
    assert store.list_runs("etl") == []


def test_next_execution_follows_the_latest_scheduled_run(store: Store, capsys: Out) -> None:
    store.create_run("etl", "s1", run_type="scheduled", logical_date=T0, now=T0,
                     data_interval=(T0, T0 + timedelta(days=1)))
    code, out, _ = run_cli(capsys, "dags", "next-execution", "etl", "-n", "2")
    assert code == 0
    assert out.split() == [(T0 + timedelta(days=1)).isoformat(), (T0 + timedelta(days=2)).isoformat()]


def test_next_execution_parses_a_dag_no_scheduler_has_seen(home: Path, capsys: Out) -> None:
    (home / "dags" / "pipe.py").write_text(PIPE.replace('schedule="@daily"', 'schedule="@monthly"')
                                           .replace("catchup=False", "catchup=True"))
    code, out, err = run_cli(capsys, "dags", "next-execution", "pipe")
    assert (code, out, err) == (0, "2024-01-01T00:00:00+00:00\n", "")


def test_kill_runs_fails_the_running_runs(store: Store, capsys: Out) -> None:
    run = store.trigger_dag("etl", now=T0, run_id="r1")
    assert store.set_run_state(run.key, "queued", "running")
    code, out, _ = run_cli(capsys, "dags", "kill-runs", "etl", "--yes")
    assert code == 0 and "Killed 1 run(s)" in out
    assert store.get_run("etl", "r1").state == "failed"
    assert "No running runs" in run_cli(capsys, "dags", "kill-runs", "etl", "--yes")[1]


def test_backfill_dry_run_lists_the_dates_and_changes_nothing(store: Store, capsys: Out) -> None:
    code, out, _ = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-03", "--dry-run")
    assert code == 0 and out.count("create") == 3 and "Dry run: 3 run(s)" in out
    assert store.list_runs("etl") == []


def test_backfill_rejects_both_re_run_options(store: Store, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-02",
                        "--reset-failed", "--rerun-failed-tasks")
    assert code == 2 and "exclude each other" in err


def _finish_runs_when_created(store: Store, count: int, state: str) -> threading.Thread:
    """Play the scheduler: once ``count`` backfill runs exist, finish them."""
    def finish() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = [r for r in store.list_runs("etl") if r.run_type == "backfill"]
            if len(runs) == count:
                for r in runs:
                    store.set_run_state_manually(r.key, "queued", state)
                return
            time.sleep(0.05)
    thread = threading.Thread(target=finish, daemon=True)
    thread.start()
    return thread


def test_backfill_creates_queued_runs_and_follows_them_until_done(store: Store, capsys: Out) -> None:
    thread = _finish_runs_when_created(store, 2, "success")
    code, out, _ = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-02")
    thread.join()
    assert code == 0
    assert "2 run(s) (2 new)" in out and "2/2 runs done, 0 failed" in out


def test_backfill_without_a_running_scheduler_says_one_is_needed(store: Store, capsys: Out) -> None:
    thread = _finish_runs_when_created(store, 1, "success")
    code, out, err = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01")
    thread.join()
    assert code == 0
    assert ("no scheduler is running: these runs wait for one (`flowctl scheduler`), or run them here with "
            "--local") in err


def test_backfill_with_a_live_scheduler_says_nothing_about_it(store: Store, capsys: Out) -> None:
    from datetime import datetime, timezone

    store.create_job("scheduler", "host", 1, datetime.now(timezone.utc))
    thread = _finish_runs_when_created(store, 1, "success")
    code, _, err = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01")
    thread.join()
    assert code == 0 and "no scheduler" not in err


def test_backfill_exits_1_when_a_run_failed(store: Store, capsys: Out) -> None:
    thread = _finish_runs_when_created(store, 1, "failed")
    code, out, _ = run_cli(capsys, "dags", "backfill", "etl", "-s", "2024-01-01", "-e", "2024-01-01")
    thread.join()
    assert code == 1 and "1/1 runs done, 1 failed" in out


# --- running tasks in this process (needs the task runner) ------------------------------------

def _write_pipe(home: Path) -> Path:
    (home / "dags" / "pipe.py").write_text(PIPE)
    return home / "dags" / "out.txt"


def test_dags_test_runs_the_whole_dag_here_and_prints_task_states(home: Path, capsys: Out) -> None:
    out_file = _write_pipe(home)
    code, out, err = run_cli(capsys, "dags", "test", "pipe", "2024-03-01")
    assert code == 0, out + err
    assert out_file.read_text().split() == ["first", "second"]
    assert out.index("first: success") < out.index("second: success")
    assert out.splitlines()[-1].endswith(": success")


CONF_SHOW = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def show(dag_run=None):
    print("conf is", dict(dag_run.conf))

with DAG("confy", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    PythonOperator(task_id="show", python_callable=show)
'''


def test_dags_test_again_at_a_date_makes_a_new_run_and_prints_the_task_logs(home: Path, capsys: Out) -> None:
    """Before: a second ``dags test`` at a date cleared the old run and ran it with its old conf, and the
    task's own output went to the log file only; now, as Airflow 2.5+'s ``dags test`` (``dag.test()``),
    the old run is deleted, the new one has the new conf, and the task's log lines show on the terminal."""
    (home / "dags" / "confy.py").write_text(CONF_SHOW)
    code, out, err = run_cli(capsys, "dags", "test", "confy", "2024-03-01", "--conf", '{"n": 1}')
    assert code == 0, out + err
    assert "conf is {'n': 1}" in out
    code, out, err = run_cli(capsys, "dags", "test", "confy", "2024-03-01", "--conf", '{"n": 2}')
    assert code == 0, out + err
    assert "conf is {'n': 2}" in out and "conf is {'n': 1}" not in out
    store = Store(make_engine(f"sqlite:///{home / 'flowctl.db'}"))
    try:
        [run] = store.list_runs("confy")
        assert run.conf == {"n": 2} and run.state == "success"
    finally:
        store.close()


def test_dags_test_exits_1_when_the_run_fails(home: Path, capsys: Out) -> None:
    _write_pipe(home)
    code, out, _ = run_cli(capsys, "dags", "test", "broken")
    assert code == 1
    assert "fails: failed" in out and "after: upstream_failed" in out


def test_dags_test_expands_mapped_tasks(home: Path, capsys: Out) -> None:
    out_file = _write_pipe(home)
    code, out, err = run_cli(capsys, "dags", "test", "mapped")
    assert code == 0, out + err
    assert sorted(out_file.read_text().split()) == ["n1", "n2", "n3"]
    assert "each[2]: success" in out


def test_dags_test_passes_a_returned_datetime_and_mapped_dates_downstream_as_those_types(
        home: Path, migrated_sqlite_url: str, capsys: Out) -> None:
    (home / "dags" / "dates.py").write_text(DATES)
    code, out, err = run_cli(capsys, "dags", "test", "dates", "2024-03-01")
    assert code == 0, out + err
    store = Store(make_engine(migrated_sqlite_url))
    try:
        [run] = store.list_runs("dates")
        pushed = store.xcom_pull(run.key, "interval_start")
    finally:
        store.close()
    start = run.data_interval_start.astimezone(timezone.utc)
    assert pushed == {TYPE_KEY: "datetime", "value": start.isoformat()}
    days = [(start + timedelta(days=n)).date().isoformat() for n in (1, 2)]
    assert sorted(home.joinpath("dags", "out.txt").read_text().split()) == sorted(
        [f"each:date:{days[0]}", f"each:date:{days[1]}", f"report:datetime:{start.isoformat()}:date"])


def test_backfill_local_runs_the_runs_without_a_scheduler(home: Path, capsys: Out) -> None:
    out_file = _write_pipe(home)
    assert run_cli(capsys, "dags", "test", "pipe", "2024-03-01")[0] == 0  # syncs the DAG into the database
    code, out, err = run_cli(capsys, "dags", "backfill", "pipe", "-s", "2024-01-01", "-e", "2024-01-02", "--local")
    assert code == 0, out + err
    assert out_file.read_text().split() == ["first", "second"] * 3
    assert "2/2 runs done, 0 failed" in out


CALLED = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator

OUT = Path(__file__).with_name("callbacks.txt")

def record(context):
    with OUT.open("a") as f:
        f.write(" ".join([context["dag"].dag_id, context["dag_run"].run_id, context["reason"], context["ds"]]) + "\\n")

def boom():
    raise RuntimeError("task fails on purpose")

def callback_fails(context):
    raise RuntimeError("callback fails on purpose")

def fine():
    return None

with DAG("works", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False,
         on_success_callback=record, on_failure_callback=record) as works:
    PythonOperator(task_id="fine", python_callable=fine)

with DAG("fails", schedule=None, start_date=datetime(2024, 1, 1),
         on_success_callback=record, on_failure_callback=record) as fails:
    PythonOperator(task_id="boom", python_callable=boom)

with DAG("callback_fails", schedule=None, start_date=datetime(2024, 1, 1),
         on_success_callback=callback_fails) as callback_fails_dag:
    PythonOperator(task_id="fine", python_callable=fine)
'''


def _write_called(home: Path) -> Path:
    (home / "dags" / "called.py").write_text(CALLED)
    return home / "dags" / "callbacks.txt"


def test_dags_test_calls_the_dags_success_callback_once_with_the_runs_context(home: Path, capsys: Out) -> None:
    out_file = _write_called(home)
    code, out, err = run_cli(capsys, "dags", "test", "works", "2024-03-01")
    assert code == 0, out + err
    assert out_file.read_text().splitlines() == ["works manual__2024-03-01T00:00:00+00:00 success 2024-03-01"]


def test_dags_test_calls_the_dags_failure_callback_once_when_the_run_fails(home: Path, capsys: Out) -> None:
    out_file = _write_called(home)
    code, out, err = run_cli(capsys, "dags", "test", "fails", "2024-03-01")
    assert code == 1, out + err
    assert out_file.read_text().splitlines() == ["fails manual__2024-03-01T00:00:00+00:00 task_failure 2024-03-01"]


def test_a_dag_callback_that_raises_is_reported_and_leaves_the_runs_result_alone(home: Path, capsys: Out) -> None:
    _write_called(home)
    code, out, err = run_cli(capsys, "dags", "test", "callback_fails", "2024-03-01")
    assert code == 0, out + err
    assert "on_success_callback raised RuntimeError: callback fails on purpose" in out
    assert out.splitlines()[-1].endswith(": success")


def test_backfill_local_calls_the_dags_callback_once_per_run(home: Path, capsys: Out) -> None:
    out_file = _write_called(home)
    assert run_cli(capsys, "dags", "test", "works", "2024-03-01")[0] == 0  # syncs the DAG into the database
    out_file.unlink()
    code, out, err = run_cli(capsys, "dags", "backfill", "works", "-s", "2024-01-01", "-e", "2024-01-02", "--local")
    assert code == 0, out + err
    assert sorted(out_file.read_text().splitlines()) == [
        "works backfill__2024-01-01T00:00:00+00:00 success 2024-01-01",
        "works backfill__2024-01-02T00:00:00+00:00 success 2024-01-02"]


ALERTING = '''
import json
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator

OUT = Path(__file__).with_name("alerts.jsonl")

def alert(context):
    ti = context["task_instance"]
    with OUT.open("a") as f:
        f.write(json.dumps([context["reason"], ti.dag_id, context["ti"].task_id, ti.state,
                            context["execution_date"].isoformat(), context["params"]["env"]]) + "\\n")

def boom():
    raise RuntimeError("boom on purpose")

for dag_id, last in (("ends_well", lambda: None), ("ends_badly", boom)):
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), params={"env": "dev"},
             on_success_callback=alert, on_failure_callback=[alert]):
        PythonOperator(task_id="first", python_callable=lambda: None) >> PythonOperator(task_id="last",
                                                                                        python_callable=last)
'''


def test_dags_test_gives_dag_callbacks_the_task_context_of_the_last_task_and_the_runs_params(
        home: Path, capsys: Out) -> None:
    """The usual Slack alert reads context["task_instance"] / ["ti"] / ["execution_date"]. Before: KeyError,
    and params were the DAG's defaults ({"env": "dev"}) instead of the run's conf."""
    (home / "dags" / "alerting.py").write_text(ALERTING)
    for dag_id in ("ends_well", "ends_badly"):
        run_cli(capsys, "dags", "test", dag_id, "2024-03-01", "--conf", '{"env": "prod"}')
    seen = [json.loads(line) for line in (home / "dags" / "alerts.jsonl").read_text().splitlines()]
    assert seen == [["success", "ends_well", "last", "success", "2024-03-01T00:00:00+00:00", "prod"],
                    ["task_failure", "ends_badly", "last", "failed", "2024-03-01T00:00:00+00:00", "prod"]]


class _SchedulerBeside(Store):
    """A Store whose "first" task a scheduler runs beside the local run. It queues it:
    - ``before``: before the local run starts, and runs it half a second later;
    - ``racing``: just as the local run tries to schedule it (the local run's compare-and-set then
      loses, its states read a moment before say pending), and then also finishes the run first;
    - ``between``: before the local run starts, and runs it between the local run's reading of
      the states and its step (which then moves nothing, from states already stale).
    """

    def __init__(self, engine: Any, out_file: Path, when: str) -> None:
        super().__init__(engine)
        self.out_file, self.when, self.thread, self.first = out_file, when, None, None

    def queue_first(self, key: Any) -> None:
        for expected, new in (("pending", "scheduled"), ("scheduled", "queued")):
            assert Store.set_task_state(self, key, expected, new)
        self.first = key
        if self.when != "between":
            self.thread = threading.Thread(target=self._run_first, args=(0.5,), daemon=True)
            self.thread.start()

    def _run_first(self, delay: float) -> None:  # what the scheduler's worker does with the try it queued
        time.sleep(delay)
        assert self.start_try(self.first, 0, "elsewhere", 1, datetime.now(timezone.utc)) is not None
        self.out_file.write_text("first-elsewhere\n")
        assert self.finish_try(self.first, "success", datetime.now(timezone.utc), running_try=1)

    def set_task_state(self, key: Any, expected: Any, new: Any, **fields: Any) -> bool:
        if self.when == "racing" and self.first is None and key.task_id == "first" and str(new) == "scheduled":
            self.queue_first(key)
        return super().set_task_state(key, expected, new, **fields)

    def list_task_instances(self, run: Any, state: Any = None) -> Any:
        if self.when == "between" and state is not None and not self.out_file.exists():
            self._run_first(0)
        return super().list_task_instances(run, state=state)

    def finish_run(self, run: Any, state: Any, now: datetime) -> bool:
        if self.when == "racing":  # the scheduler's examination saw every task done first
            assert super().finish_run(run, state, now)
        return super().finish_run(run, state, now)


@pytest.mark.parametrize("when", ["before", "racing", "between"])
def test_a_local_run_waits_for_the_tasks_a_scheduler_holds_instead_of_giving_up(home: Path, capsys: Out,
                                                                                 when: str) -> None:
    """A scheduler running beside ``dags test`` (or ``backfill --local``) may queue some of the
    run's tasks first: the local run waits for them to end there, and goes on with the rest."""
    from flowctl.cli.local_run import LocalRun
    from flowctl.settings import Settings

    out_file = _write_pipe(home)
    assert run_cli(capsys, "dags", "test", "pipe", "2024-03-01")[0] == 0  # syncs the DAG into the database
    out_file.unlink()
    settings = Settings.load()
    store = _SchedulerBeside(make_engine(str(settings.get("database", "sql_alchemy_conn"))), out_file, when)
    run = store.trigger_dag("pipe", now=datetime.now(timezone.utc), logical_date=datetime(2024, 3, 2, tzinfo=timezone.utc))
    if when != "racing":
        store.queue_first(next(t.key for t in store.list_task_instances(run.key) if t.task_id == "first"))
    lines: list[str] = []
    state = LocalRun(store, settings, run.key, lines.append).run_to_end()
    if store.thread is not None:
        store.thread.join()
    store.close()
    assert state == "success", lines
    assert out_file.read_text().split() == ["first-elsewhere", "second"]
    if when != "between":
        assert any("first: queued outside this process" in line for line in lines), lines

def test_dags_test_runs_a_dag_in_a_subfolder_that_imports_a_package_from_the_folder_root(home: Path,
                                                                                       capsys: Out) -> None:
    for folder in ("common", "sub"):
        (home / "dags" / folder).mkdir()
    (home / "dags" / "common" / "__init__.py").write_text("")
    (home / "dags" / "common" / "words.py").write_text("WORD = 'from-common'\n")
    (home / "dags" / "sub" / "nested.py").write_text(PIPE.replace(
        "from flowctl.operators.python import PythonOperator",
        "from flowctl.operators.python import PythonOperator\nfrom common.words import WORD").replace(
        'op_args=["first"]', "op_args=[WORD]").replace('"pipe"', '"nested"').replace('"mapped"', '"mapped2"')
        .replace('"broken"', '"broken2"'))
    code, out, err = run_cli(capsys, "dags", "test", "nested", "2024-03-01")
    assert code == 0, out + err
    assert (home / "dags" / "sub" / "out.txt").read_text().split() == ["from-common", "second"]

def test_dags_test_of_a_dag_whose_file_fails_to_import_shows_the_error(home: Path, capsys: Out) -> None:
    (home / "dags" / "bad.py").write_text("from flowctl import DAG\nraise ValueError('bad file on purpose')\n")
    code, _, err = run_cli(capsys, "dags", "test", "bad")
    assert code == 3 and "bad file on purpose" in err


# --- [core] default_timezone: naive dates in DAG files ----------------------------------------

AMSTERDAM = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def report(dag, data_interval_start, data_interval_end):
    print("zone", dag.timezone, "start", dag.start_date.isoformat(),
          "interval", data_interval_start.in_timezone(dag.timezone).isoformat(),
          data_interval_end.in_timezone(dag.timezone).isoformat())

with DAG("amsterdam", schedule="0 6 * * *", start_date=datetime(2024, 1, 1), catchup=True) as dag:
    PythonOperator(task_id="report", python_callable=report)
'''


def test_dags_test_and_next_execution_read_naive_dates_of_the_dag_file_in_the_default_timezone(
        home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse (child processes) and the tries (this process) both use [core] default_timezone."""
    monkeypatch.setenv("FLOWCTL__CORE__DEFAULT_TIMEZONE", "Europe/Amsterdam")
    (home / "dags" / "amsterdam.py").write_text(AMSTERDAM)
    code, out, err = run_cli(capsys, "dags", "next-execution", "amsterdam")
    assert (code, out, err) == (0, "2024-01-01T05:00:00+00:00\n", "")  # 06:00 in Amsterdam, in winter
    code, out, err = run_cli(capsys, "dags", "test", "amsterdam", "2024-04-02T06:00")
    assert code == 0, out + err
    assert ("zone Europe/Amsterdam start 2024-01-01T00:00:00+01:00 "
            "interval 2024-04-01T06:00:00+02:00 2024-04-02T06:00:00+02:00") in out
