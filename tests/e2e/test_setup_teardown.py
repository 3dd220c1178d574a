"""A real scheduler runs setup and teardown tasks: the teardown runs after the work failed, the run
fails for the work, and clearing the work makes the scheduler run the setup and teardown again; a run
marked failed mid-run stops its work, still runs its teardown and stays failed."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.dags import PRELUDE
from tests.e2e.harness import Deployment

CLUSTER = PRELUDE + '''
def boom(ti, **_):
    effect(ti)
    raise RuntimeError("boom")


with DAG("setup_teardown", schedule=None, start_date=START, default_args={"retries": 0}):
    create = PythonOperator(task_id="create", python_callable=effect)
    work = PythonOperator(task_id="work", python_callable=boom)
    delete = PythonOperator(task_id="delete", python_callable=effect)
    create >> work >> delete.as_teardown(setups=create)
'''


MARKED = PRELUDE + '''
def stuck(ti, **_):
    effect(ti)
    time.sleep(120)


with DAG("marked_mid_run", schedule=None, start_date=START, default_args={"retries": 0}):
    create = PythonOperator(task_id="create", python_callable=effect)
    work = PythonOperator(task_id="work", python_callable=stuck)
    delete = PythonOperator(task_id="delete", python_callable=effect)
    create >> work >> delete.as_teardown(setups=create)
'''


@pytest.fixture(params=DIALECTS)
def d(request: pytest.FixtureRequest, deploy: Deploy) -> Deployment:
    deployment = deploy(request.param)
    deployment.write_dag("setup_teardown.py", CLUSTER)
    deployment.write_dag("marked_mid_run.py", MARKED)
    deployment.start_scheduler()
    return deployment


def _ran(d: Deployment) -> list[str]:
    return [line[1] for line in d.effects() if line[0] == "setup_teardown"]


def test_the_scheduler_runs_the_teardown_after_failed_work_and_clearing_the_work_runs_all_three_again(
        d: Deployment) -> None:
    run_id = d.trigger("setup_teardown")
    assert d.wait_for_run("setup_teardown", run_id) == "failed"
    assert d.task_states("setup_teardown", run_id) == {"create": "success", "work": "failed", "delete": "success"}
    assert _ran(d) == ["create", "work", "delete"]

    d.flowctl("tasks", "clear", "setup_teardown", "-t", "^work$", "--yes")
    assert d.wait_for_run("setup_teardown", run_id) == "failed"
    assert d.task_states("setup_teardown", run_id) == {"create": "success", "work": "failed", "delete": "success"}
    assert _ran(d) == ["create", "work", "delete"] * 2


def test_a_run_marked_failed_mid_run_stops_its_work_runs_its_teardown_and_stays_failed(d: Deployment) -> None:
    from datetime import datetime, timezone

    from flowctl.core.keys import RunKey

    run_id = d.trigger("marked_mid_run")
    d.wait_for_task("marked_mid_run", run_id, "work", ["running"])
    report = d.store.mark_run(RunKey("marked_mid_run", run_id), "failed", datetime.now(timezone.utc))
    assert [k.task_id for k in report.teardowns_left] == ["delete"]
    assert d.run_state("marked_mid_run", run_id) == "failed"
    d.wait_for_task("marked_mid_run", run_id, "delete", ["success"], timeout=30.0)
    assert d.task_states("marked_mid_run", run_id) == {"create": "success", "work": "failed", "delete": "success"}
    assert [line[1] for line in d.effects() if line[0] == "marked_mid_run"] == ["create", "work", "delete"]
    assert d.run_state("marked_mid_run", run_id) == "failed"
