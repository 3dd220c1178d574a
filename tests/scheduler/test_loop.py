"""The scheduler loop driven with tick(now) on a real Store (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.operators.empty import EmptyOperator
from flowctl.scheduler import Scheduler
from tests.recording_store import CountingStore
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle


def make_scheduler(store: Any, tmp_path: Path, parallelism: int = 32, **options: str) -> tuple[Scheduler, InlineExecutor]:
    executor = InlineExecutor(store, parallelism)
    scheduler = Scheduler(settings(tmp_path, **options), store, executor)
    scheduler.start(T0)
    return scheduler, executor


def chain(dag_id: str = "chain", n: int = 3, **dag_kw: Any) -> DAG:
    with DAG(dag_id, start_date=T0 - day(30), schedule=dag_kw.pop("schedule", None), **dag_kw) as dag:
        prev = None
        for i in range(n):
            op = EmptyOperator(task_id=f"t{i}")
            if prev is not None:
                prev >> op
            prev = op
    return dag


def trigger(store: Any, dag_id: str, run_id: str = "manual_1", when: Any = T0) -> RunKey:
    store.create_run(dag_id, run_id, run_type="manual", logical_date=when, now=when, state="queued",
                     data_interval=(when, when))
    return RunKey(dag_id, run_id)


def hung_try(store: Any, tmp_path: Path, dag: DAG, task_id: str,
             **options: str) -> tuple[Scheduler, InlineExecutor, TaskInstanceKey]:
    """A manual run of ``dag`` whose ``task_id`` is running and never ends (its worker hangs)."""
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path, **options)
    executor.behaviour[task_id] = "hang"
    run = trigger(store, dag.dag_id)
    tick_until_idle(scheduler, T0)
    key = TaskInstanceKey(dag.dag_id, run.run_id, task_id)
    assert store.get_task_instance(key).state == "running"
    return scheduler, executor, key


def states(store: Any, run: RunKey) -> dict[str, str]:
    return {(t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"): t.state
            for t in store.list_task_instances(run)}


def test_a_triggered_chain_runs_in_order_and_the_run_succeeds(store: Any, tmp_path: Path) -> None:
    sync(store, chain())
    scheduler, executor = make_scheduler(store, tmp_path)
    run = trigger(store, "chain")
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["t0", "t1", "t2"]
    assert store.get_run("chain", run.run_id).state == "success"
    assert [w.try_number for w in executor.submitted] == [0, 0, 0]
    assert all(w.fileloc == "/dags/test.py" for w in executor.submitted)


def test_a_triggered_runs_first_task_is_queued_by_the_first_tick_and_no_second_tick_is_asked_for(
        store: Any, tmp_path: Path) -> None:
    sync(store, chain())
    scheduler, executor = make_scheduler(store, tmp_path)
    run = trigger(store, "chain")
    report = scheduler.tick(T0)
    assert (report.started_runs, report.queued) == (1, 1)
    assert [w.key.task_id for w in executor.submitted] == ["t0"]
    assert store.get_run("chain", run.run_id).state == "running"
    assert not report.busy  # the run it started was examined in the same tick


def test_a_trigger_round_queues_the_first_task_before_its_upkeep_queries_but_after_stopping_killed_tries(
        store: Any, tmp_path: Path) -> None:
    sync(store, chain())
    recording = CountingStore(store)
    scheduler, executor = make_scheduler(recording, tmp_path)
    scheduler.tick(T0)  # the first look at kill requests only marks where they start
    trigger(store, "chain")
    recording.called.clear()
    scheduler.tick(T0)
    assert [w.key.task_id for w in executor.submitted] == ["t0"]
    queued_at = recording.called.index("queue_scheduled_tasks")
    # A run a person marked failed: its tries are stopped before the examination queues its teardowns.
    assert recording.called.index("kill_requests") < queued_at, recording.called
    for upkeep in ("requeue_due_waits", "time_out_deferrals"):
        assert recording.called.index(upkeep) > queued_at, recording.called
    assert recording.called.count("start_queued_runs") == 1  # the upkeep created and finished no run: not again


def test_a_run_the_upkeep_creates_has_its_first_task_queued_in_the_same_tick(store: Any, tmp_path: Path) -> None:
    sync(store, chain("daily", schedule="@daily"))
    scheduler, executor = make_scheduler(store, tmp_path)
    report = scheduler.tick(T0)  # its upkeep creates the first run of the catch-up, and starts it
    assert (report.created_runs, report.started_runs, report.queued) == (1, 1, 1)
    assert [w.key.task_id for w in executor.submitted] == ["t0"]
    assert not report.busy


def test_a_failed_task_fails_its_downstream_and_the_run(store: Any, tmp_path: Path) -> None:
    sync(store, chain())
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["t1"] = "fail"
    run = trigger(store, "chain")
    tick_until_idle(scheduler, T0)
    assert states(store, run) == {"t0": "success", "t1": "failed", "t2": "upstream_failed"}
    assert store.get_run("chain", run.run_id).state == "failed"


def test_a_failed_try_is_retried_once_its_retry_delay_has_passed(store: Any, tmp_path: Path) -> None:
    with DAG("retry", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="flaky", retries=1, retry_delay=timedelta(seconds=30))
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["flaky"] = "fail"
    run = trigger(store, "retry")
    report = scheduler.tick(T0)
    tick_until_idle(scheduler, T0)
    assert states(store, run) == {"flaky": "up_for_retry"}
    assert scheduler.tick(T0).next_wakeup <= T0 + timedelta(seconds=30)
    executor.behaviour["flaky"] = "success"
    tick_until_idle(scheduler, T0 + timedelta(seconds=29))
    assert states(store, run) == {"flaky": "up_for_retry"}
    tick_until_idle(scheduler, T0 + timedelta(seconds=31))
    assert states(store, run) == {"flaky": "success"}
    assert [w.try_number for w in executor.submitted] == [0, 1]
    assert report.started_runs == 1


def test_catchup_creates_one_run_per_missed_interval_within_max_active_runs(store: Any, tmp_path: Path) -> None:
    with DAG("daily", start_date=T0 - day(3), schedule="@daily", catchup=True, max_active_runs=2) as dag:
        EmptyOperator(task_id="only")
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["only"] = "hang"
    tick_until_idle(scheduler, T0)
    runs = store.list_runs("daily")
    assert len(runs) == 2 and {r.state for r in runs} == {"running"}
    executor.behaviour["only"] = "success"
    for ti_run in runs:
        store.set_task_state(TaskInstanceKey("daily", ti_run.run_id, "only"), "running", "success")
    tick_until_idle(scheduler, T0)
    runs = store.list_runs("daily")
    assert sorted(r.logical_date for r in runs) == [T0 - day(3), T0 - day(2), T0 - day(1)]
    assert all(r.state == "success" for r in runs)
    assert runs[0].run_id == f"scheduled__{(T0 - day(1)).isoformat()}"
    dag_row = store.get_dag("daily")
    assert dag_row.next_dagrun == T0 and dag_row.next_dagrun_create_after == T0 + day(1)
    assert scheduler.tick(T0).next_wakeup <= T0 + day(1)


def test_without_catchup_only_the_latest_interval_runs(store: Any, tmp_path: Path) -> None:
    with DAG("nocatch", start_date=T0 - day(5), schedule="@daily", catchup=False) as dag:
        EmptyOperator(task_id="only")
    sync(store, dag)
    scheduler, _ = make_scheduler(store, tmp_path)
    tick_until_idle(scheduler, T0 + timedelta(hours=1))
    assert [r.logical_date for r in store.list_runs("nocatch")] == [T0 - day(1)]


def test_with_catchup_scheduling_continues_after_a_long_backfill_of_the_first_intervals(
        store: Any, tmp_path: Path) -> None:
    with DAG("filled", start_date=T0 - day(80), schedule="@daily", catchup=True, max_active_runs=200) as dag:
        EmptyOperator(task_id="only")
    sync(store, dag)
    for n in range(80, 10, -1):
        when = T0 - day(n)
        store.create_run("filled", f"backfill__{when.isoformat()}", run_type="backfill", logical_date=when,
                         now=T0, state="success", data_interval=(when, when + day(1)))
    scheduler, _ = make_scheduler(store, tmp_path)
    for _ in range(5):
        tick_until_idle(scheduler, T0 + timedelta(hours=1))
    scheduled = sorted(r.logical_date for r in store.list_runs("filled") if r.run_type == "scheduled")
    assert scheduled == [T0 - day(n) for n in range(10, 0, -1)]


def test_without_catchup_a_delta_schedules_runs_follow_on_without_gaps(store: Any, tmp_path: Path) -> None:
    """Before: the second run covered [T0 + 3 ms, ...): its start drifted by the scheduler's latency."""
    with DAG("hourly", start_date=T0 - day(5), schedule=timedelta(hours=1), catchup=False) as dag:
        EmptyOperator(task_id="only")
    sync(store, dag)
    scheduler, _ = make_scheduler(store, tmp_path)
    tick_until_idle(scheduler, T0)
    tick_until_idle(scheduler, T0 + timedelta(hours=1, milliseconds=3))
    runs = sorted(store.list_runs("hourly"), key=lambda r: r.logical_date)
    assert [r.logical_date for r in runs] == [T0 - timedelta(hours=1), T0]


def test_without_catchup_each_event_of_an_events_timetable_runs_when_the_scheduler_reaches_it(
        store: Any, tmp_path: Path) -> None:
    """Before: none ran: the run, recomputed when due, skipped its own event as already before now."""
    from flowctl.timetables.events import EventsTimetable

    events = [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    with DAG("events", start_date=T0 - day(5), schedule=EventsTimetable(event_dates=events), catchup=False) as dag:
        EmptyOperator(task_id="only")
    sync(store, dag)
    scheduler, _ = make_scheduler(store, tmp_path)
    tick_until_idle(scheduler, T0)
    tick_until_idle(scheduler, events[0] + timedelta(milliseconds=3))
    tick_until_idle(scheduler, events[1] + timedelta(seconds=5))
    assert sorted(r.logical_date for r in store.list_runs("events")) == events


def test_a_pool_with_one_slot_runs_its_tasks_one_at_a_time_highest_priority_first(store: Any, tmp_path: Path) -> None:
    store.set_pool("single", 1, "test")
    with DAG("pooled", start_date=T0 - day(1), schedule=None) as dag:
        for i, weight in enumerate((1, 5, 3)):
            EmptyOperator(task_id=f"p{i}", pool="single", priority_weight=weight)
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour.update({"p0": "hang", "p1": "hang", "p2": "hang"})
    run = trigger(store, "pooled")
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["p1"]
    assert sorted(states(store, run).values()) == ["running", "scheduled", "scheduled"]
    store.set_task_state(TaskInstanceKey("pooled", run.run_id, "p1"), "running", "success")
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["p1", "p2"]


def test_a_task_no_pool_can_hold_is_warned_about_once_and_does_not_hold_up_the_others(
        store: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store.set_pool("small", 2, "test")
    with DAG("unrunnable", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="ghost", pool="no_such_pool", priority_weight=9)
        EmptyOperator(task_id="greedy", pool="small", pool_slots=3, priority_weight=8)
        EmptyOperator(task_id="fine")
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    run = trigger(store, "unrunnable")
    with caplog.at_level("WARNING", logger="flowctl.scheduler"):
        tick_until_idle(scheduler, T0)
        tick_until_idle(scheduler, T0 + timedelta(minutes=5))  # upkeep again: no second warning
    assert executor.ran == ["fine"]
    assert states(store, run) == {"fine": "success", "ghost": "scheduled", "greedy": "scheduled"}
    warnings = [r.getMessage() for r in caplog.records if "can never run" in r.getMessage()]
    assert warnings == [
        f"unrunnable.ghost in run {run.run_id} can never run: pool 'no_such_pool' does not exist (create it "
        "with `flowctl pools set`, or change the task)",
        f"unrunnable.greedy in run {run.run_id} can never run: it needs 3 slots of pool 'small', which has 2 in "
        "all (grow the pool with `flowctl pools set`, or change the task)"]


def test_max_active_tasks_limits_a_dags_running_tasks(store: Any, tmp_path: Path) -> None:
    with DAG("wide", start_date=T0 - day(1), schedule=None, max_active_tasks=2) as dag:
        for i in range(5):
            EmptyOperator(task_id=f"w{i}")
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour.update({f"w{i}": "hang" for i in range(5)})
    trigger(store, "wide")
    tick_until_idle(scheduler, T0)
    assert len(executor.ran) == 2


def test_executor_open_slots_limit_queueing(store: Any, tmp_path: Path) -> None:
    with DAG("slots", start_date=T0 - day(1), schedule=None) as dag:
        for i in range(5):
            EmptyOperator(task_id=f"s{i}")
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path, parallelism=3)
    executor.behaviour.update({f"s{i}": "hang" for i in range(5)})
    trigger(store, "slots")
    tick_until_idle(scheduler, T0)
    assert len(executor.submitted) == 3


def test_a_crashed_workload_counts_as_a_failed_try(store: Any, tmp_path: Path) -> None:
    sync(store, chain(n=1))
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["t0"] = "crash"
    run = trigger(store, "chain")
    tick_until_idle(scheduler, T0)
    ti = store.get_task_instance(TaskInstanceKey("chain", run.run_id, "t0"))
    assert ti.state == "failed" and ti.try_number == 1 and "crashed" in (ti.note or "")
    assert store.get_run("chain", run.run_id).state == "failed"
    assert [t.state for t in store.list_tries(ti.key)] == ["failed"]


def test_a_running_task_without_heartbeat_is_a_zombie_and_is_retried(store: Any, tmp_path: Path) -> None:
    with DAG("zomb", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="z", retries=1, retry_delay=timedelta(seconds=5))
    scheduler, executor, key = hung_try(store, tmp_path, dag, "z", scheduler__zombie_threshold_sec="60")
    later = T0 + timedelta(seconds=120)
    scheduler.tick(later)
    ti = store.get_task_instance(key)
    assert ti.state == "up_for_retry" and "zombie" in (ti.note or "")
    assert key in executor.terminated


def test_a_try_a_person_stops_is_terminated_at_the_next_tick_and_only_once(store: Any, tmp_path: Path) -> None:
    scheduler, executor, key = hung_try(store, tmp_path, chain(n=1), "t0")
    assert executor.terminated == []
    store.mark_task_instances([key], "failed", T0 + timedelta(seconds=1))
    scheduler.tick(T0 + timedelta(seconds=2))
    assert executor.terminated == [key]
    scheduler.tick(T0 + timedelta(seconds=3))
    assert executor.terminated == [key]  # one request, one termination
    store.clear_task_instances([key], T0 + timedelta(seconds=4))  # runs again ...
    tick_until_idle(scheduler, T0 + timedelta(seconds=4))
    assert store.get_task_instance(key).state == "running"
    store.kill_runs("chain", ["running"], T0 + timedelta(seconds=5))  # ... and is killed again
    scheduler.tick(T0 + timedelta(seconds=6))
    assert executor.terminated == [key, key]


def test_kill_requests_made_before_the_scheduler_first_looked_are_left_to_the_supervisors(
        store: Any, tmp_path: Path) -> None:
    _, _, key = hung_try(store, tmp_path, chain(n=1), "t0")
    store.mark_task_instances([key], "failed", T0 + timedelta(seconds=1))
    later, executor = make_scheduler(store, tmp_path)  # starts after the request was made
    later.tick(T0 + timedelta(seconds=2))
    later.tick(T0 + timedelta(seconds=3))
    assert executor.terminated == []


def test_queued_tasks_of_a_dead_scheduler_are_queued_again(store: Any, tmp_path: Path) -> None:
    sync(store, chain(n=1))
    dead = store.create_job("scheduler", "old", 1, T0 - timedelta(minutes=10))
    run = trigger(store, "chain")
    store.set_run_state(run, "queued", "running", start_date=T0)
    key = TaskInstanceKey("chain", run.run_id, "t0")
    store.set_task_state(key, "pending", "scheduled")
    store.set_task_state(key, "scheduled", "queued", queued_by_job_id=dead.id)
    scheduler, executor = make_scheduler(store, tmp_path)
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["t0"]
    assert store.get_run("chain", run.run_id).state == "success"


def test_a_run_past_its_dagrun_timeout_fails_and_stops_its_tasks(store: Any, tmp_path: Path) -> None:
    sync(store, chain(dagrun_timeout=timedelta(minutes=1)))
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["t0"] = "hang"
    run = trigger(store, "chain")
    tick_until_idle(scheduler, T0)
    tick_until_idle(scheduler, T0 + timedelta(minutes=2))
    assert store.get_run("chain", run.run_id).state == "failed"
    assert states(store, run) == {"t0": "failed", "t1": "skipped", "t2": "skipped"}
    assert TaskInstanceKey("chain", run.run_id, "t0") in executor.terminated


def test_manual_runs_of_a_paused_dag_run_unless_configured_otherwise(store: Any, tmp_path: Path) -> None:
    sync(store, chain(n=1))
    store.set_paused("chain", True)
    scheduler, executor = make_scheduler(store, tmp_path)
    run = trigger(store, "chain")
    tick_until_idle(scheduler, T0)
    assert store.get_run("chain", run.run_id).state == "success"
    strict, strict_exec = make_scheduler(store, tmp_path, scheduler__run_manual_when_paused="false")
    second = trigger(store, "chain", "manual_2", T0 + day(1))
    tick_until_idle(strict, T0)
    assert store.get_run("chain", second.run_id).state == "queued" and strict_exec.ran == []


def test_a_run_with_a_future_logical_date_waits_until_that_date_as_airflows_does(
        store: Any, tmp_path: Path) -> None:
    sync(store, chain(n=1))
    scheduler, executor = make_scheduler(store, tmp_path)
    run = trigger(store, "chain", when=T0 + timedelta(hours=1))
    tick_until_idle(scheduler, T0)
    assert store.get_run("chain", run.run_id).state == "queued" and executor.ran == []
    assert scheduler._next_wakeup(T0) <= T0 + timedelta(hours=1)  # it wakes up for it
    tick_until_idle(scheduler, T0 + timedelta(hours=1))
    assert store.get_run("chain", run.run_id).state == "success"
    backfill = store.create_run("chain", "backfill_1", run_type="backfill", logical_date=T0 + day(2),
                                now=T0, state="queued", data_interval=(T0 + day(2), T0 + day(2)))
    tick_until_idle(scheduler, T0 + timedelta(hours=1))  # a backfill of future dates runs now
    assert store.get_run("chain", backfill.run_id).state == "success"


def test_depends_on_past_waits_for_the_previous_run(store: Any, tmp_path: Path) -> None:
    with DAG("past", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="p", depends_on_past=True)
    sync(store, dag)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["p"] = "fail"
    first = trigger(store, "past", "m1", T0)
    tick_until_idle(scheduler, T0)
    executor.behaviour["p"] = "success"
    second = trigger(store, "past", "m2", T0 + day(1))
    tick_until_idle(scheduler, T0)
    assert states(store, first) == {"p": "failed"}
    assert states(store, second) == {"p": "pending"}


def test_each_task_instance_is_queued_once_even_by_two_schedulers(store: Any, tmp_path: Path) -> None:
    with DAG("fan", start_date=T0 - day(1), schedule=None) as dag:
        for i in range(20):
            EmptyOperator(task_id=f"f{i}")
    sync(store, dag)
    one, ex1 = make_scheduler(store, tmp_path)
    two, ex2 = make_scheduler(store, tmp_path)
    trigger(store, "fan")
    for _ in range(6):
        one.tick(T0)
        two.tick(T0)
    submitted = [w.key for w in ex1.submitted + ex2.submitted]
    assert len(submitted) == 20 == len(set(submitted))


def test_max_active_tis_per_dag_holds_for_runs_the_pass_did_not_examine(
        store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with DAG("limited", start_date=T0 - day(30), schedule=None) as limited:
        EmptyOperator(task_id="t", max_active_tis_per_dag=1)
    sync(store, limited)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["t"] = "hang"
    for i in range(3):
        trigger(store, "limited", f"manual_{i}", when=T0 - day(3 - i))
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["t"]  # one running, two scheduled behind the limit
    # More running runs than one pass examines: the pass reads the oldest, of another DAG, only.
    sync(store, chain("older", 1))
    executor.behaviour["t0"] = "hang"
    trigger(store, "older", "manual_old", when=T0 - day(10))
    monkeypatch.setattr("flowctl.scheduler.examine.RUNS_PER_PASS", 1)
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["t", "t0"]
    assert sorted(states(store, RunKey("limited", f"manual_{i}"))["t"] for i in range(3)) == [
        "running", "scheduled", "scheduled"]


def test_max_active_tis_per_dagrun_limits_a_mapped_tasks_running_instances_in_each_run(
        store: Any, tmp_path: Path) -> None:
    with DAG("per_run", start_date=T0 - day(30), schedule=None) as per_run:
        EmptyOperator.partial(task_id="m", max_active_tis_per_dagrun=2).expand(doc=["a", "b", "c"])
    sync(store, per_run)
    scheduler, executor = make_scheduler(store, tmp_path)
    executor.behaviour["m"] = "hang"
    first, second = trigger(store, "per_run", "manual_1"), trigger(store, "per_run", "manual_2", when=T0 - day(1))
    tick_until_idle(scheduler, T0)
    for run in (first, second):
        assert sorted(states(store, run).values()) == ["running", "running", "scheduled"]
