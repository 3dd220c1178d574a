"""DAG callbacks run in a child process, and the standalone dag-processor command."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from flowctl.cli import main
from flowctl.dag_processing.processor import DagFileProcessor
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.scheduler import Scheduler
from flowctl.scheduler.dag_sync import DagSync
from tests.scheduler.helpers import T0, InlineExecutor, settings, tick_until_idle

CALLBACK_DAG = '''
from datetime import datetime, timezone
from pathlib import Path
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

OUT = Path(__file__).with_name("callback.txt")

def done(context):
    OUT.write_text(f"{context['dag_run'].run_id} {context['reason']}")

with DAG("called", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         on_success_callback=done) as dag:
    EmptyOperator(task_id="only")
'''


def _callback_world(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str,
                    **options: str) -> tuple[Path, Any, Store]:
    """A DAG folder holding ``source``, settings for it (also in the environment, for the callback
    child) and a store; returns (folder, settings, store)."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / f"{name}.py").write_text(source)
    from flowctl.db.secrets import generate_key

    options = {"core__dags_folder": str(folder), "database__sql_alchemy_conn": url,
               "logging__base_log_folder": str(tmp_path / "logs"), "core__fernet_key": generate_key(), **options}
    for name_, value in options.items():
        monkeypatch.setenv(f"FLOWCTL__{name_.upper()}", value)
    return folder, settings(tmp_path, **options), Store(make_engine(url), fernet_key=options["core__fernet_key"])


def _wait_for_file(path: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_dags_success_callback_runs_in_a_child_process_after_the_run(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, conf, store = _callback_world(migrated_sqlite_url, tmp_path, monkeypatch, "called", CALLBACK_DAG)
    try:
        with DagFileProcessor(processes=1, timeout=30) as processor:
            scheduler = Scheduler(conf, store, InlineExecutor(store), dag_sync=DagSync(conf, store, processor))
            scheduler.start(T0)
            tick_until_idle(scheduler, T0)
            store.create_run("called", "m1", run_type="manual", logical_date=T0, now=T0, state="queued")
            tick_until_idle(scheduler, T0)
            assert store.get_run("called", "m1").state == "success"
            out = folder / "callback.txt"
            _wait_for_file(out)
            scheduler.shutdown(T0)
        assert out.read_text() == "m1 success"
    finally:
        store.close()


def test_the_dag_processor_command_parses_the_folder_into_the_database(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "called.py").write_text(CALLBACK_DAG)
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    assert main(["dag-processor", "--num-runs", "1"]) == 0
    assert "parsed 1 file(s): 1 DAG(s), 0 import error(s)" in capsys.readouterr().out
    store: Any = Store(make_engine(migrated_sqlite_url))
    try:
        assert store.get_dag("called").is_active
    finally:
        store.close()


ZOMBIE_DAG = '''
from datetime import datetime, timezone
from pathlib import Path
from flowctl import DAG
from flowctl.models.variable import Variable
from flowctl.operators.empty import EmptyOperator

OUT = Path(__file__).with_name("zombie.txt")

def failed(context):
    print("callback saw", context["ti"].task_id, Variable.get("api_token"))
    OUT.write_text(f"{context['ti'].task_id} {context['ti'].try_number} {context['exception']}")

with DAG("zomb", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    EmptyOperator(task_id="z", on_failure_callback=failed)
'''


def test_a_zombie_try_gets_its_tasks_failure_callback_in_a_child_process_logged_in_its_try_log(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from flowctl.core.keys import TaskInstanceKey
    from flowctl.task_runner.logs import log_path

    folder, conf, store = _callback_world(migrated_sqlite_url, tmp_path, monkeypatch, "zomb", ZOMBIE_DAG,
                                          scheduler__zombie_threshold_sec="60")
    try:
        store.set_variable("api_token", "s3cr3t-value")
        with DagFileProcessor(processes=1, timeout=30) as processor:
            executor = InlineExecutor(store)
            executor.behaviour["z"] = "hang"  # claimed, then its worker is never heard of again
            scheduler = Scheduler(conf, store, executor, dag_sync=DagSync(conf, store, processor))
            scheduler.start(T0)
            tick_until_idle(scheduler, T0)
            store.create_run("zomb", "m1", run_type="manual", logical_date=T0, now=T0, state="queued")
            tick_until_idle(scheduler, T0)
            key = TaskInstanceKey("zomb", "m1", "z")
            assert store.get_task_instance(key).state == "running"
            scheduler.tick(T0 + timedelta(seconds=120))
            assert store.get_task_instance(key).state == "failed"
            out = folder / "zombie.txt"
            _wait_for_file(out)
            scheduler.shutdown(T0)
        assert out.read_text().startswith("z 1 zombie: no heartbeat for over 60s")
        text = log_path(tmp_path / "logs", key, 1).read_text()
        assert "ended without recording its state" in text and "callback saw z ***" in text
        assert "s3cr3t-value" not in text
    finally:
        store.close()


ALERT_DAG = '''
import json
from datetime import datetime, timezone
from pathlib import Path
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

OUT = Path(__file__).with_name("alert.json")

def slack_alert(context):
    ti = context["task_instance"]
    OUT.write_text(json.dumps({
        "dag_id": ti.dag_id, "task_id": context["ti"].task_id, "state": ti.state, "try_number": ti.try_number,
        "execution_date": context["execution_date"].isoformat(), "reason": context["reason"],
        "env": context["params"]["env"], "log_url": ti.log_url, "run_id": context["dag_run"].run_id,
        "task": context["task"].task_id, "ds": context["ds"]}))

with DAG("alerting", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         params={"env": "dev"}, on_failure_callback=[slack_alert]) as dag:
    EmptyOperator(task_id="first") >> EmptyOperator(task_id="breaks") >> EmptyOperator(task_id="never")
'''


def test_a_dags_failure_callback_gets_the_task_context_of_the_failed_task_and_the_runs_params(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual Slack alert. Before: context["task_instance"] was missing (AttributeError on None.dag_id)
    and params were the DAG's defaults, not the run's conf."""
    import json

    folder, conf, store = _callback_world(migrated_sqlite_url, tmp_path, monkeypatch, "alerting", ALERT_DAG)
    try:
        with DagFileProcessor(processes=1, timeout=30) as processor:
            executor = InlineExecutor(store)
            executor.behaviour["breaks"] = "fail"
            scheduler = Scheduler(conf, store, executor, dag_sync=DagSync(conf, store, processor))
            scheduler.start(T0)
            tick_until_idle(scheduler, T0)
            store.create_run("alerting", "m1", run_type="manual", logical_date=T0, now=T0, state="queued",
                             conf={"env": "prod"})
            tick_until_idle(scheduler, T0)
            assert store.get_run("alerting", "m1").state == "failed"
            out = folder / "alert.json"
            _wait_for_file(out)
            scheduler.shutdown(T0)
        seen = json.loads(out.read_text())
    finally:
        store.close()
    url = seen.pop("log_url")
    assert seen == {"dag_id": "alerting", "task_id": "breaks", "state": "failed", "try_number": 1,
                    "execution_date": T0.isoformat(), "reason": "task_failure", "env": "prod", "run_id": "m1",
                    "task": "breaks", "ds": T0.strftime("%Y-%m-%d")}
    assert "/dags/alerting/grid?" in url and "task_id=breaks" in url and "try_number=1" in url


HANGING_CALLBACK_DAG = '''
import time
from datetime import datetime, timezone
from pathlib import Path
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

def hang(context):
    Path(__file__).with_name("started.txt").write_text("started")
    time.sleep(3600)

with DAG("hangs", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         on_success_callback=hang) as dag:
    EmptyOperator(task_id="only")
'''


def test_a_dag_callback_that_hangs_is_killed_after_the_dag_file_processor_timeout(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a callback child that never returned ran for ever beside the scheduler (and a hanging
    sla_miss_callback held back every later one of its DAG); Airflow kills it after
    [core] dag_file_processor_timeout."""
    folder, conf, store = _callback_world(migrated_sqlite_url, tmp_path, monkeypatch, "hangs",
                                          HANGING_CALLBACK_DAG, core__dag_file_processor_timeout="1")
    try:
        with DagFileProcessor(processes=1, timeout=30) as processor:
            scheduler = Scheduler(conf, store, InlineExecutor(store), dag_sync=DagSync(conf, store, processor))
            scheduler.start(T0)
            tick_until_idle(scheduler, T0)
            store.create_run("hangs", "m1", run_type="manual", logical_date=T0, now=T0, state="queued")
            tick_until_idle(scheduler, T0)
            _wait_for_file(folder / "started.txt")
            assert (folder / "started.txt").exists()
            deadline = time.monotonic() + 20
            while scheduler.callbacks.reap() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scheduler.callbacks.reap() == 0
            scheduler.shutdown(T0)
    finally:
        store.close()
