"""Deferral in the task runner, on SQLite and PostgreSQL: a try defers without using up a try, and
resumes in its method with the trigger's event; failures and timeouts fail it per its policy."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flowctl.core.deferral import FAIL_METHOD, encode_json
from flowctl.core.keys import RunKey
from flowctl.task_runner import run_workload

from tests.task_runner.conftest import World

DEFERRING = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.models.baseoperator import BaseOperator
from flowctl.triggers.temporal import DateTimeTrigger


class Waiter(BaseOperator):
    template_fields = ("note_text",)

    def __init__(self, note_text="", **kwargs):
        super().__init__(**kwargs)
        self.note_text = note_text

    def execute(self, context):
        context["ti"].xcom_push("before", 1)
        self.defer(trigger=DateTimeTrigger(moment=datetime(2030, 1, 1, tzinfo=__import__("datetime").timezone.utc)),
                   method_name="done", kwargs={"n": 2}, timeout=timedelta(hours=1))

    def done(self, context, event=None, n=0):
        if n == 2 and context["params"].get("again") and not context["ti"].xcom_pull(key="again"):
            context["ti"].xcom_push("again", True)
            self.defer(trigger=DateTimeTrigger(moment=event), method_name="done", kwargs={"n": 3})
        return {"event": event.isoformat(), "n": n, "before": context["ti"].xcom_pull(key="before"),
                "label": self.note_text}


with DAG("deferring", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Waiter(task_id="wait", note_text="{{ ds }}", retries=1, retry_delay=timedelta(seconds=1))
    Waiter(task_id="twice", params={"again": True})
    Waiter(task_id="bounded", execution_timeout=timedelta(minutes=10))
'''
MOMENT = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _deferred(world: World, task_id: str = "wait") -> tuple[object, str, object]:
    fileloc = world.write_dags("deferring", DEFERRING)
    run = world.make_run("deferring")
    result = run_workload(world.queue(run, task_id, fileloc), world.settings, world.store)
    return result, fileloc, run


def test_a_deferring_try_is_recorded_as_deferred_without_using_up_the_try(world: World) -> None:
    before = datetime.now(timezone.utc)
    result, _, run = _deferred(world)
    assert result.ran and result.state == "deferred"
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "deferred" and ti.try_number == 0
    assert ti.next_method == "done" and dict(ti.next_kwargs or {}) == {"n": 2}
    (trigger,) = world.store.triggers([ti.trigger_id])
    assert trigger.classpath == "flowctl.triggers.temporal.DateTimeTrigger"
    assert dict(trigger.kwargs) == {"moment": encode_json(MOMENT)} and trigger.triggerer_id is None
    deferral = world.store.deferral_of(result.key)
    assert deferral is not None and deferral.classpath == trigger.classpath
    assert before + timedelta(minutes=59) < deferral.trigger_timeout < before + timedelta(minutes=61)
    assert world.store.list_tries(result.key) == []  # no try ended
    assert world.store.xcom_pull(RunKey("deferring", run.run_id), "wait", key="before") == 1
    assert "Pausing task as DEFERRED" in world.log_text(result.key, 1)


def test_a_resumed_try_calls_its_method_with_the_event_in_the_same_try(world: World) -> None:
    result, fileloc, run = _deferred(world)
    ti = world.store.get_task_instance(result.key)
    now = datetime.now(timezone.utc)
    assert world.store.fire_trigger(ti.trigger_id, encode_json(MOMENT), now) == [result.key]
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "scheduled" and ti.trigger_id is None and world.store.triggers([1, 2, 3]) == []
    resumed = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert resumed.ran and resumed.state == "success" and resumed.try_number == 1
    assert resumed.return_value == {"event": MOMENT.isoformat(), "n": 2, "before": 1, "label": "2024-01-01"}
    ti = world.store.get_task_instance(result.key)
    assert ti.try_number == 1 and ti.next_method is None and not ti.next_kwargs
    assert [t.state for t in world.store.list_tries(result.key)] == ["success"]
    log = world.log_text(result.key, 1)
    assert "Pausing task as DEFERRED" in log and "Resuming after deferral: calling done()" in log


def test_a_resumed_task_may_defer_again(world: World) -> None:
    result, fileloc, run = _deferred(world, "twice")
    now = datetime.now(timezone.utc)
    world.store.fire_trigger(world.store.get_task_instance(result.key).trigger_id, encode_json(MOMENT), now)
    again = run_workload(world.queue(run, "twice", fileloc), world.settings, world.store)
    assert again.state == "deferred"
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "deferred" and ti.try_number == 0 and dict(ti.next_kwargs or {}) == {"n": 3}
    world.store.fire_trigger(ti.trigger_id, encode_json(MOMENT), now)
    done = run_workload(world.queue(run, "twice", fileloc), world.settings, world.store)
    assert done.state == "success" and done.return_value["n"] == 3 and done.try_number == 1


def test_a_trigger_that_failed_fails_the_task_with_its_error_and_the_retry_starts_afresh(world: World) -> None:
    result, fileloc, run = _deferred(world)
    now = datetime.now(timezone.utc)
    world.store.fail_trigger(world.store.get_task_instance(result.key).trigger_id, "ValueError: no such bucket", now)
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "scheduled" and ti.next_method == FAIL_METHOD
    failed = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert failed.state == "up_for_retry" and "TaskDeferralError" in (failed.error or "")
    assert "no such bucket" in (failed.error or "")
    ti = world.store.get_task_instance(result.key)
    assert ti.next_method is None  # the retry executes the task again, it does not resume
    world.store.set_task_state(result.key, "up_for_retry", "scheduled")
    retry = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert retry.state == "deferred" and world.store.get_task_instance(result.key).try_number == 1


def test_a_deferral_past_its_timeout_fails_the_task_with_task_deferral_timeout(world: World) -> None:
    result, fileloc, run = _deferred(world)
    now = datetime.now(timezone.utc)
    assert world.store.time_out_deferrals(now) == []
    assert world.store.next_trigger_timeout(now) is not None
    assert world.store.time_out_deferrals(now + timedelta(hours=2)) == [result.key]
    failed = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert failed.state == "up_for_retry" and "TaskDeferralTimeout" in (failed.error or "")
    assert world.store.delete_unused_triggers() == 1  # the timed-out task's trigger


def test_execution_timeout_bounds_the_deferral_counted_from_the_start_of_the_try(world: World) -> None:
    result, _, _ = _deferred(world, "bounded")
    ti = world.store.get_task_instance(result.key)
    deferral = world.store.deferral_of(result.key)
    assert deferral is not None and ti.start_date is not None
    assert deferral.trigger_timeout == ti.start_date + timedelta(minutes=10)


def test_clearing_a_deferred_task_forgets_its_deferral_and_its_trigger(world: World) -> None:
    result, fileloc, run = _deferred(world)
    world.store.clear_task_instances([result.key], datetime.now(timezone.utc))
    ti = world.store.get_task_instance(result.key)
    assert ti.state == "pending" and ti.next_method is None and ti.trigger_id is None
    assert world.store.delete_unused_triggers() == 1
    again = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert again.state == "deferred" and world.store.get_task_instance(result.key).next_kwargs == {"n": 2}


def test_a_fired_trigger_does_not_resume_a_task_cleared_meanwhile(world: World) -> None:
    result, _, _ = _deferred(world)
    trigger_id = world.store.get_task_instance(result.key).trigger_id
    world.store.clear_task_instances([result.key], datetime.now(timezone.utc))
    assert world.store.fire_trigger(trigger_id, True, datetime.now(timezone.utc)) == []
    assert world.store.get_task_instance(result.key).state == "pending"


def test_kill_runs_fails_a_deferred_task(world: World) -> None:
    result, _, _ = _deferred(world)
    world.store.kill_runs("deferring", ["running"], datetime.now(timezone.utc))
    assert world.store.get_task_instance(result.key).state == "failed"
