"""ExternalTaskSensor with deferrable=True (and a task group in both modes), pure: it pokes once, defers to a WorkflowTrigger with what it
watches, and resumes per the trigger's event (success, skipped, failed; soft_fail turns a failure into a skip)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, FlowctlError, TaskDeferred, TaskSkipped
from flowctl.sensors.external_task import ExternalTaskSensor
from flowctl.triggers.external_task import WorkflowTrigger

from tests.operators.contract_ti import ContractTI, context_for

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)


def _sensor(**kwargs: Any) -> ExternalTaskSensor:
    with DAG("d"):
        return ExternalTaskSensor(task_id="e", external_dag_id="other", deferrable=True, **kwargs)


def _context(sensor: ExternalTaskSensor, states: list[str | None]) -> dict[str, Any]:
    return context_for(sensor, ContractTI(), logical_date=NOW, external_state_lookup=lambda *_: states)


def test_a_deferrable_external_task_sensor_defers_to_a_workflow_trigger_for_what_it_watches() -> None:
    sensor = _sensor(external_task_ids=["a", "b"], execution_delta=timedelta(hours=1), failed_states=["failed"],
                     skipped_states=["skipped"], poll_interval=3, timeout=600, soft_fail=True)
    with pytest.raises(TaskDeferred) as raised:
        sensor.execute(_context(sensor, ["success", "running"]))
    deferred = raised.value
    assert isinstance(deferred.trigger, WorkflowTrigger) and deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=600)
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "flowctl.triggers.external_task.WorkflowTrigger"
    assert kwargs == {"external_dag_id": "other", "execution_dates": [NOW - timedelta(hours=1)], "run_ids": None,
                      "external_task_ids": ["a", "b"], "external_task_group_id": None,
                      "failed_states": ["failed"], "skipped_states": ["skipped"], "allowed_states": ["success"],
                      "poke_interval": 3.0, "soft_fail": True}


def test_a_deferrable_external_task_sensor_whose_tasks_are_done_succeeds_without_deferring() -> None:
    sensor = _sensor(external_task_id="a", failed_states=["failed"])
    assert sensor.execute(_context(sensor, ["success"])) is None
    with pytest.raises(FlowctlError, match="ended in a failed state"):
        sensor.execute(_context(sensor, ["failed"]))


def test_a_resumed_external_task_sensor_succeeds_skips_or_fails_per_the_event() -> None:
    sensor = _sensor(external_task_id="a")
    assert sensor.execute_complete({}, event={"status": "success"}) is None
    with pytest.raises(TaskSkipped, match="were skipped"):
        sensor.execute_complete({}, event={"status": "skipped"})
    with pytest.raises(FlowctlError, match=r"external 'other' tasks \['a'\] ended in a failed state: \['failed'\]"):
        sensor.execute_complete({}, event={"status": "failed", "states": ["failed"]})
    with pytest.raises(TaskSkipped, match="ended in a failed state"):
        _sensor(external_task_id="a", soft_fail=True).execute_complete({}, event={"status": "failed"})


def test_a_task_group_is_watched_in_both_modes_through_the_lookup() -> None:
    asked: list[Any] = []

    def lookup(dag_id: str, task_ids: Any, logical_date: datetime, **kwargs: Any) -> list[str | None]:
        asked.append((dag_id, task_ids, logical_date, kwargs))
        return states

    with DAG("d"):
        poking = ExternalTaskSensor(task_id="p", external_dag_id="other", external_task_group_id="load",
                                    failed_states=["failed"])
    states: list[str | None] = ["success", "running"]
    context = context_for(poking, ContractTI(), logical_date=NOW, external_state_lookup=lookup)
    assert poking.poke(context) is False  # one task of the group still runs
    assert asked == [("other", None, NOW, {"task_group_id": "load"})]
    states = ["success", "success"]
    assert poking.poke(context) is True
    states = []  # no such run yet
    assert poking.poke(context) is False
    states = ["failed", "success"]
    with pytest.raises(FlowctlError, match="task group 'load' ended in a failed state"):
        poking.poke(context)
    with pytest.raises(DagDefinitionError, match="only one of external_task_group_id"):
        ExternalTaskSensor(task_id="x", external_dag_id="other", external_task_group_id="load", external_task_id="a")
    sensor = _sensor(external_task_group_id="load")
    states = ["running"]
    with pytest.raises(TaskDeferred) as raised:  # deferrable: one poke, then the trigger watches the group
        sensor.execute(context_for(sensor, ContractTI(), logical_date=NOW, external_state_lookup=lookup))
    assert raised.value.trigger.external_task_group_id == "load"
    with pytest.raises(TaskSkipped, match="task group 'load' were skipped"):
        sensor.execute_complete({}, event={"status": "skipped"})


def test_each_poke_logs_what_it_waits_for_and_what_it_saw(caplog: pytest.LogCaptureFixture) -> None:
    """The diagnostics a person reads in the try's log while the sensor waits (Airflow logs its pokes too)."""
    with DAG("d"):
        tasks = ExternalTaskSensor(task_id="t", external_dag_id="other", external_task_ids=["a", "b"],
                                   execution_delta=timedelta(hours=1))
        run = ExternalTaskSensor(task_id="r", external_dag_id="other")
        group = ExternalTaskSensor(task_id="g", external_dag_id="other", external_task_group_id="load")
    caplog.set_level("INFO")
    context = context_for(tasks, ContractTI(), logical_date=NOW, external_state_lookup=lambda *_: ["success", None])
    assert tasks.poke(context) is False
    assert ("Poking for tasks ['a', 'b'] of DAG 'other' at logical date 2024-03-10T11:00:00+00:00: "
            "a: success, b: no task instance; waiting for success") in caplog.text
    context = context_for(run, ContractTI(), logical_date=NOW, external_state_lookup=lambda *_: [])
    assert run.poke(context) is False
    assert "Poking for the run of DAG 'other' at logical date 2024-03-10T12:00:00+00:00: no such run" in caplog.text
    context = context_for(group, ContractTI(), logical_date=NOW,
                          external_state_lookup=lambda *_, **__: ["running", "success"])
    assert group.poke(context) is False
    assert "Poking for task group 'load' of DAG 'other' at logical date 2024-03-10T12:00:00+00:00: " \
           "running, success" in caplog.text
