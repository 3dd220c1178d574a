"""``flowctl dags test`` of setup and teardown tasks (Airflow 2.7): the teardown runs whatever the work
did, the run's state ignores it (unless ``on_failure_fail_dagrun``), and clearing the work clears them."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]

CLUSTER = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.operators.python import PythonOperator

LOG = Path(__file__).with_name("ran.txt")
FAIL = {fail!r}


def step(name):
    with LOG.open("a") as f:
        f.write(name + "\\n")
    if name in FAIL:
        raise ValueError(name + " fails on purpose")


with DAG("cluster", start_date=datetime(2024, 1, 1), schedule=None, default_args={{"retries": 0}}):
    create = PythonOperator(task_id="create", python_callable=step, op_args=["create"])
    work = PythonOperator(task_id="work", python_callable=step, op_args=["work"])
    delete = PythonOperator(task_id="delete", python_callable=step, op_args=["delete"])
    create >> work >> delete.as_teardown(setups=create, on_failure_fail_dagrun={fail_run!r})
'''

DECORATED = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.decorators import setup, task, teardown

LOG = Path(__file__).with_name("ran.txt")


def write(text):
    with LOG.open("a") as f:
        f.write(text + "\\n")


@setup
def create():
    write("create")
    return "c1"


@task
def work(name):
    write("work " + name)
    raise ValueError("work fails on purpose")


@teardown
def delete(name):
    write("delete " + name)


with DAG("cluster", start_date=datetime(2024, 1, 1), schedule=None):
    cluster = create()
    with delete(cluster):
        work(cluster)
'''


@pytest.fixture()
def store(sqlite_home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_sqlite_url))
    yield store
    store.close()


def _run(home: Path, capsys: Out, fail: set[str], fail_run: bool = False) -> tuple[int, str, list[str]]:
    (home / "dags" / "cluster.py").write_text(CLUSTER.format(fail=fail, fail_run=fail_run))
    code, out, err = run_cli(capsys, "dags", "test", "cluster", "2024-01-01")
    ran = (home / "dags" / "ran.txt").read_text().split()
    return code, out + err, ran


def _final(store: Store) -> tuple[str, dict[str, str]]:
    [run] = store.list_runs("cluster")
    return run.state, {ti.task_id: ti.state for ti in store.list_task_instances(run.key)}


def test_a_failed_work_task_still_runs_the_teardown_and_fails_the_run(sqlite_home: Path, store: Store,
                                                                       capsys: Out) -> None:
    code, out, ran = _run(sqlite_home, capsys, {"work"})
    assert ran == ["create", "work", "delete"], out
    assert code == 1, out
    assert _final(store) == ("failed", {"create": "success", "work": "failed", "delete": "success"})


def test_a_failed_teardown_leaves_the_run_successful(sqlite_home: Path, store: Store, capsys: Out) -> None:
    code, out, ran = _run(sqlite_home, capsys, {"delete"})
    assert ran == ["create", "work", "delete"]
    assert code == 0, out
    assert _final(store) == ("success", {"create": "success", "work": "success", "delete": "failed"})


def test_a_failed_teardown_fails_the_run_with_on_failure_fail_dagrun(sqlite_home: Path, store: Store,
                                                                      capsys: Out) -> None:
    code, out, _ = _run(sqlite_home, capsys, {"delete"}, fail_run=True)
    assert code == 1, out
    assert _final(store) == ("failed", {"create": "success", "work": "success", "delete": "failed"})


def test_a_failed_setup_runs_neither_the_work_nor_the_teardown(sqlite_home: Path, store: Store,
                                                                capsys: Out) -> None:
    """As Airflow's all_done_setup_success: no setup succeeded (and not all were skipped), so the
    teardown is upstream_failed -- it is skipped only when its setups were skipped."""
    code, out, ran = _run(sqlite_home, capsys, {"create"})
    assert ran == ["create"]
    assert code == 1, out
    assert _final(store) == ("failed", {"create": "failed", "work": "upstream_failed",
                                        "delete": "upstream_failed"})


def test_clearing_the_work_clears_its_setup_and_teardown(sqlite_home: Path, store: Store, capsys: Out) -> None:
    _run(sqlite_home, capsys, {"work"})
    code, out, err = run_cli(capsys, "tasks", "clear", "cluster", "-t", "^work$", "--yes")
    assert code == 0, out + err
    state, tis = _final(store)
    assert state == "queued" and tis == {"create": "pending", "work": "pending", "delete": "pending"}


def test_the_setup_and_teardown_decorators_and_a_teardown_scope_run_as_airflows(sqlite_home: Path, store: Store,
                                                                                  capsys: Out) -> None:
    (sqlite_home / "dags" / "cluster.py").write_text(DECORATED)
    code, out, err = run_cli(capsys, "dags", "test", "cluster", "2024-01-01")
    assert (sqlite_home / "dags" / "ran.txt").read_text().splitlines() == ["create", "work c1", "delete c1"]
    assert code == 1, out + err
    assert _final(store) == ("failed", {"create": "success", "work": "failed", "delete": "success"})
