"""``flowctl dags test`` of deferring tasks: their triggers run in the same process, no triggerer needed
(as Airflow's ``dags test``); the task resumes with the event, or fails when its trigger fails or times out."""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]

DEFERRING = '''
from datetime import datetime, timedelta
from pathlib import Path
from flowctl import DAG
from flowctl.core.baseoperator import BaseOperator
from flowctl.operators.python import PythonOperator
from flowctl.sensors.time_delta import TimeDeltaSensorAsync
from flowctl.triggers.temporal import TimeDeltaTrigger

LOG = Path(__file__).with_name("ran.txt")


class WaitsThenReports(BaseOperator):
    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds={delay})), method_name="done",
                   kwargs={{"note": "resumed"}}, timeout=timedelta(seconds={timeout}))

    def done(self, context, event=None, note=None):
        with LOG.open("a") as f:
            f.write(f"{{note}} {{type(event).__name__}}\\n")
        return note


with DAG("deferring", start_date=datetime(2024, 1, 1), schedule=None, default_args={{"retries": 0}}):
    wait = TimeDeltaSensorAsync(task_id="wait", delta=timedelta(seconds=0.2))
    report = WaitsThenReports(task_id="report")
    after = PythonOperator(task_id="after", python_callable=lambda: LOG.open("a").write("after\\n"))
    wait >> report >> after
'''


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """A deferral nobody resumes would keep ``dags test`` waiting for ever: fail after 120 s instead
    (SIGALRM is free here: these tasks set no execution_timeout, which would use it)."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("dags test still waiting after 120 s (a deferred task nobody resumed?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture()
def store(sqlite_home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_sqlite_url))
    yield store
    store.close()


def _run(home: Path, capsys: Out, delay: float, timeout: float) -> tuple[int, str, list[str]]:
    (home / "dags" / "deferring.py").write_text(DEFERRING.format(delay=delay, timeout=timeout))
    code, out, err = run_cli(capsys, "dags", "test", "deferring", "2024-01-01")
    log = home / "dags" / "ran.txt"
    return code, out + err, log.read_text().splitlines() if log.exists() else []


def _states(store: Store) -> tuple[str, dict[str, str]]:
    [run] = store.list_runs("deferring")
    return run.state, {ti.task_id: ti.state for ti in store.list_task_instances(run.key)}


def test_deferring_tasks_resume_in_the_same_process_when_their_triggers_fire(sqlite_home: Path, store: Store,
                                                                           capsys: Out) -> None:
    code, out, ran = _run(sqlite_home, capsys, delay=0.2, timeout=30)
    assert code == 0, out
    assert ran == ["resumed datetime", "after"], out  # the event: the moment the trigger waited for
    assert "running its trigger flowctl.triggers.temporal" in out
    assert _states(store) == ("success", {"wait": "success", "report": "success", "after": "success"})
    [run] = store.list_runs("deferring")
    report = [t for t in store.list_task_instances(run.key) if t.task_id == "report"][0]
    assert report.try_number == 1  # the deferral did not use up a try


def test_a_deferral_past_its_timeout_fails_the_task_in_dags_test(sqlite_home: Path, store: Store,
                                                                capsys: Out) -> None:
    code, out, ran = _run(sqlite_home, capsys, delay=30, timeout=0.3)
    assert code != 0 and ran == [], out
    assert "TaskDeferralTimeout" in out
    assert _states(store) == ("failed", {"wait": "success", "report": "failed", "after": "upstream_failed"})


def test_deferring_tasks_resume_when_dags_test_runs_inside_a_running_event_loop(sqlite_home: Path, store: Store,
                                                                               capsys: Out) -> None:
    """As ``dag.test()`` in a Jupyter notebook, whose cell runs inside the kernel's event loop (or after a
    test library left one running in this thread): the trigger cannot take this thread's loop."""
    async def in_a_notebook_cell() -> tuple[int, str, list[str]]:
        return _run(sqlite_home, capsys, delay=0.2, timeout=30)

    code, out, ran = asyncio.run(in_a_notebook_cell())
    assert code == 0, out
    assert ran == ["resumed datetime", "after"], out
    assert _states(store) == ("success", {"wait": "success", "report": "success", "after": "success"})
