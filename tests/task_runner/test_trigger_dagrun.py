"""TriggerDagRunOperator run through run_workload from a DAG file, against a real Store."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from flowctl.core import timezones
from flowctl.core.errors import DagDefinitionError
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator
from flowctl.task_runner import dagfile, run_workload
from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test
from flowctl.triggerer.job import load_trigger
from flowctl.triggerer.loop import TriggerOutcome, run_until_event
from flowctl.triggers.metadata import using_store

from tests.task_runner.conftest import T0, World

DAGS = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator

with DAG("target", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="work")

with DAG("parent", start_date=datetime(2024, 1, 1), schedule=None):
    TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target", trigger_run_id="from_{{ ds_nodash }}",
                          logical_date="{{ ds }}T06:00:00+00:00", conf={"day": "{{ ds }}", "rows": 3})
    TriggerDagRunOperator(task_id="plain", trigger_dag_id="target")
    TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="fixed")
    TriggerDagRunOperator(task_id="reset", trigger_dag_id="target", trigger_run_id="fixed", reset_dag_run=True)
    TriggerDagRunOperator(task_id="skip", trigger_dag_id="target", trigger_run_id="fixed",
                          skip_when_already_exists=True)
    TriggerDagRunOperator(task_id="wait", trigger_dag_id="target", trigger_run_id="waited",
                          wait_for_completion=True, poke_interval=5)
    TriggerDagRunOperator(task_id="nowhere", trigger_dag_id="no_such_dag")
    TriggerDagRunOperator(task_id="defer", trigger_dag_id="target", trigger_run_id="deferred",
                          wait_for_completion=True, deferrable=True, poke_interval=0.05)
    TriggerDagRunOperator(task_id="local_text", trigger_dag_id="target", trigger_run_id="local_text",
                          logical_date="{{ ds }}T06:00:00")
    TriggerDagRunOperator(task_id="local_naive", trigger_dag_id="target", trigger_run_id="local_naive",
                          logical_date=datetime(2024, 7, 1, 6))
'''
LATER = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


@pytest.fixture
def dags(world: World) -> str:
    return world.write_dags("trigger", DAGS)


def _run(world: World, fileloc: str, task_id: str) -> tuple[str | None, RunKey]:
    run = world.make_run("parent")
    result = run_workload(world.queue(run, task_id, fileloc), world.settings, world.store)
    return result.state, run.key


def test_a_trigger_creates_a_queued_manual_run_with_the_rendered_id_date_and_conf(world: World, dags: str) -> None:
    state, parent = _run(world, dags, "trigger")
    assert state == "success"
    run = world.store.get_run("target", "from_20240101")
    assert (run.state, run.run_type, dict(run.conf)) == ("queued", "manual", {"day": "2024-01-01", "rows": 3})
    assert run.logical_date.replace(tzinfo=timezone.utc) == datetime(2024, 1, 1, 6, tzinfo=timezone.utc)
    assert {t.task_id: t.state for t in world.store.list_task_instances(run.key)} == {"work": "pending"}
    assert world.store.xcom_pull(parent, "trigger", "trigger_run_id") == "from_20240101"
    assert world.store.xcom_pull(parent, "trigger", "trigger_execution_date_iso") == "2024-01-01T06:00:00+00:00"


def test_without_a_date_or_id_the_run_is_manual_at_the_time_of_the_try(world: World, dags: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TriggerDagRunOperator, "clock", staticmethod(lambda: LATER))
    assert _run(world, dags, "plain")[0] == "success"
    assert world.store.get_run("target", f"manual__{LATER.isoformat()}").state == "queued"


def test_a_run_id_that_is_taken_fails_the_task_unless_told_to_reset_or_skip(world: World, dags: str) -> None:
    assert _run(world, dags, "again")[0] == "success"
    target = RunKey("target", "fixed")
    world.store.set_run_state(target, "queued", "failed")
    for ti in world.store.list_task_instances(target):
        assert world.store.set_task_state_manually(ti.key, "pending", "failed")
    run = world.make_run("parent", day=1)
    states = {task_id: run_workload(world.queue(run, task_id, dags), world.settings, world.store).state
              for task_id in ("again", "skip")}
    assert states == {"again": "failed", "skip": "skipped"}
    assert world.store.get_run("target", "fixed").state == "failed"
    assert run_workload(world.queue(run, "reset", dags), world.settings, world.store).state == "success"
    assert world.store.get_run("target", "fixed").state == "queued"
    assert {t.state for t in world.store.list_task_instances(target)} == {"pending"}
    assert world.store.xcom_pull(run.key, "reset", "trigger_run_id") == "fixed"


def _finish_target_on_first_sleep(world: World, monkeypatch: pytest.MonkeyPatch, end: str) -> list[float]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        if not slept:
            assert world.store.set_run_state(RunKey("target", "waited"), "queued", end)
        slept.append(seconds)

    monkeypatch.setattr(TriggerDagRunOperator, "sleep", staticmethod(sleep))
    return slept


def test_waiting_for_completion_polls_until_the_run_succeeds(world: World, dags: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _finish_target_on_first_sleep(world, monkeypatch, "success")
    assert _run(world, dags, "wait")[0] == "success"
    assert slept == [5.0]


def test_waiting_for_completion_fails_the_task_when_the_run_fails(world: World, dags: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _finish_target_on_first_sleep(world, monkeypatch, "failed")
    state, parent = _run(world, dags, "wait")
    assert state == "failed"
    assert "ended failed (failed_states)" in world.log_text(_key(parent, "wait"), 1)


def _key(run: RunKey, task_id: str) -> TaskInstanceKey:
    return TaskInstanceKey(run.dag_id, run.run_id, task_id)


def test_triggering_a_dag_that_does_not_exist_fails_naming_it(world: World, dags: str) -> None:
    state, parent = _run(world, dags, "nowhere")
    assert state == "failed"
    assert "no_such_dag" in world.log_text(_key(parent, "nowhere"), 1)


def test_tasks_test_records_nothing_so_it_refuses_to_trigger_and_says_what_to_run(world: World, dags: str) -> None:
    dag = dagfile.load_dag(dags, "parent")
    out = io.StringIO()
    result = run_for_test(dag, "trigger", adhoc_run_info(T0, dag=dag), world.store, log_stream=out)
    assert result.state == "failed"
    assert "cannot trigger a run of DAG 'target'" in out.getvalue() and "flowctl dags test" in out.getvalue()
    assert world.store.list_runs("target") == []


def test_states_that_are_not_dag_run_states_are_refused_when_the_dag_is_defined() -> None:
    with pytest.raises(DagDefinitionError, match="allowed_states must be DAG run states.*not done"):
        TriggerDagRunOperator(task_id="t", trigger_dag_id="x", allowed_states=["done"])
    with pytest.raises(DagDefinitionError, match="logical_date must be a str or a datetime"):
        TriggerDagRunOperator(task_id="t", trigger_dag_id="x", logical_date=20240101)  # type: ignore[arg-type]
    older_name = TriggerDagRunOperator(task_id="t", trigger_dag_id="x", execution_date="2024-01-01")
    assert older_name.logical_date == older_name.execution_date == "2024-01-01"


def test_a_naive_logical_date_is_read_in_the_default_timezone(world: World, dags: str) -> None:
    timezones.use_default_timezone("Europe/Amsterdam")  # as [core] default_timezone sets it in the worker
    run = world.make_run("parent")
    for task_id in ("local_text", "local_naive"):
        assert run_workload(world.queue(run, task_id, dags), world.settings, world.store).state == "success"
    logical = {run_id: world.store.get_run("target", run_id).logical_date.replace(tzinfo=timezone.utc)
               for run_id in ("local_text", "local_naive")}
    assert logical == {"local_text": datetime(2024, 1, 1, 5, tzinfo=timezone.utc),  # CET, +01:00
                       "local_naive": datetime(2024, 7, 1, 4, tzinfo=timezone.utc)}  # CEST, +02:00


def _run_trigger(world: World, key: TaskInstanceKey, seconds: float) -> TriggerOutcome | None:
    """Run the deferred task's trigger as the triggerer would, on the world's database."""
    (record,) = world.store.triggers([world.store.get_task_instance(key).trigger_id])
    with using_store(world.store):
        return run_until_event(record.id, load_trigger(record.classpath, record.kwargs), seconds)


def _deferred_then_finished(world: World, dags: str, end: str) -> tuple[str | None, TaskInstanceKey]:
    run = world.make_run("parent")
    first = run_workload(world.queue(run, "defer", dags), world.settings, world.store)
    key = _key(run.key, "defer")
    assert first.state == "deferred" and world.store.get_run("target", "deferred").state == "queued"
    (record,) = world.store.triggers([world.store.get_task_instance(key).trigger_id])
    assert record.classpath == "flowctl.triggers.external_task.DagStateTrigger"
    assert _run_trigger(world, key, 0.3) is None  # the triggered run is not finished: no event
    assert world.store.set_run_state(RunKey("target", "deferred"), "queued", end)
    outcome = _run_trigger(world, key, 10)
    assert outcome is not None and outcome.error is None
    assert world.store.fire_trigger(record.id, outcome.payload, datetime.now(timezone.utc)) == [key]
    return run_workload(world.queue(run, "defer", dags), world.settings, world.store).state, key


def test_a_deferrable_wait_defers_to_a_dag_state_trigger_and_resumes_in_success(world: World, dags: str) -> None:
    state, key = _deferred_then_finished(world, dags, "success")
    assert state == "success" and world.store.get_task_instance(key).try_number == 1
    log = world.log_text(key, 1)
    assert "Pausing task as DEFERRED" in log and "Run deferred of DAG target ended success" in log
    assert "waiting in the worker" not in log


def test_a_deferrable_wait_fails_the_task_when_the_triggered_run_fails(world: World, dags: str) -> None:
    state, key = _deferred_then_finished(world, dags, "failed")
    assert state == "failed"
    assert "run deferred of DAG 'target' ended failed (failed_states)" in world.log_text(key, 1)
