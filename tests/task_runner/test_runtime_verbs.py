"""The Store verbs of db/runtime.py on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flowctl.core.errors import FlowctlError
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.store import Store

from tests.db.samples import FILE, T0, make_run, queued_ti, serialized


def test_warming_the_statements_changes_nothing(store: Store) -> None:
    run = make_run(store)
    store.warm_runtime_statements(T0)
    assert {ti.state for ti in store.list_task_instances(run.key)} == {"pending"}
    assert store.list_tries(TaskInstanceKey(run.dag_id, run.run_id, "extract")) == []


def test_after_warming_a_successful_try_compiles_no_statement(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    store.warm_runtime_statements(T0)
    cache = store.engine._compiled_cache  # type: ignore[attr-defined]
    cached = len(cache)
    assert store.start_try(key, 0, "host", 1, T0) is not None
    assert store.finish_try(key, "success", T0 + timedelta(seconds=1), running_try=1, started=T0,
                            wake="task finished", rendered_fields={"x": 1})
    assert len(cache) == cached


def test_after_warming_tries_claimed_and_ended_together_compile_no_statement(store: Store) -> None:
    # The zygote claims the tries that start together, and writes the ends that arrive together, in
    # one call each (PostgreSQL: one statement over arrays): a fan-out's first wave must not compile.
    from flowctl.db.records import TryEnd

    run = make_run(store)
    keys = [queued_ti(store, run, "extract"), queued_ti(store, run, "load")]
    store.warm_runtime_statements(T0)
    cache = store.engine._compiled_cache  # type: ignore[attr-defined]
    cached = len(cache)
    claims = store.start_tries([(key, 0) for key in keys], "host", 1, T0)
    assert [claim.ti.task_id for claim in claims if claim is not None] == ["extract", "load"]
    later = T0 + timedelta(seconds=1)  # ends as the zygote sends them: rendered fields and the try's pid
    ends = [TryEnd(key, TaskInstanceState.SUCCESS, later, 1, T0, {"rendered_fields": {}, "pid": 8}) for key in keys]
    assert store.finish_tries(ends, "task finished") == [True, True]
    assert len(cache) == cached
    assert {ti.task_id: ti.state for ti in store.list_task_instances(run.key)} == {"extract": "success",
                                                                                    "load": "success"}


def test_a_claim_with_a_stale_try_number_wins_nothing(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    assert store.start_try(key, 1, "host", 1, T0) is None
    claim = store.start_try(key, 0, "host", 1, T0)
    assert claim is not None and claim.ti.try_number == 1 and claim.run.run_id == run.run_id
    assert store.start_try(key, 0, "host", 2, T0) is None


def test_finishing_a_try_records_its_duration_and_history_once(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    assert store.start_try(key, 0, "host", 1, T0) is not None
    assert store.finish_try(key, "up_for_retry", T0 + timedelta(seconds=3), running_try=1,
                            next_retry_at=T0 + timedelta(minutes=5))
    assert not store.finish_try(key, "failed", T0 + timedelta(seconds=4), running_try=1)
    ti = store.get_task_instance(key)
    assert ti.state == "up_for_retry" and ti.duration == 3.0 and ti.next_retry_at is not None
    assert [(t.try_number, t.state) for t in store.list_tries(key)] == [(1, "up_for_retry")]


def test_skipping_touches_only_tasks_that_have_not_started(store: Store) -> None:
    run = make_run(store)
    queued_ti(store, run, "extract")
    assert store.skip_tasks(run.key, ["extract", "load"], T0) == ["load"]
    states = {ti.task_id: ti.state for ti in store.list_task_instances(run.key)}
    assert states == {"extract": "queued", "load": "skipped"}


def test_external_states_report_a_runs_tasks_or_nothing_when_there_is_no_run(store: Store) -> None:
    run = make_run(store)
    assert store.external_states("etl", ["load", "nope"], run.logical_date) == ["pending", None]
    assert store.external_states("etl", None, run.logical_date) == [run.state]
    assert store.external_states("etl", ["load"], T0 + timedelta(days=9)) == []
    assert store.previous_success("etl", T0 + timedelta(days=9)) is None
    assert store.xcom_pull_mapped(RunKey("etl", run.run_id), "load") == []


def test_a_cleared_try_still_running_cannot_heartbeat_or_finish_the_next_try(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    assert store.start_try(key, 0, "host", 1, T0) is not None  # try 1 runs
    assert store.set_task_state_manually(key, "running", "pending")  # a person clears it
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    assert store.start_try(key, 1, "host", 2, T0) is not None  # try 2 runs
    later = T0 + timedelta(seconds=5)
    assert not store.heartbeat_task(key, later, try_number=1)
    assert not store.finish_try(key, "success", later, running_try=1)
    assert store.get_task_instance(key).state == "running"
    assert store.heartbeat_task(key, later, try_number=2)
    assert store.finish_try(key, "success", later, running_try=2)


def test_a_won_claim_clears_earlier_xcoms_and_a_lost_claim_clears_nothing(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    store.xcom_push(key, "left_over", 1, T0)
    assert store.start_try(key, 1, "host", 1, T0) is None  # stale: wins nothing, deletes nothing
    assert store.xcom_pull(run.key, key.task_id, "left_over") == 1
    assert store.start_try(key, 0, "host", 1, T0) is not None
    assert store.xcom_pull(run.key, key.task_id, "left_over") is None


def test_a_claim_carries_the_previous_successful_run_of_the_dag(store: Store) -> None:
    first = make_run(store, day=0)
    assert store.set_run_state_manually(first.key, first.state, "success", start_date=T0)
    second = make_run(store, day=1)
    claim = store.start_try(queued_ti(store, second), 0, "host", 1, T0)
    assert claim is not None and claim.run.run_id == second.run_id
    assert claim.previous_success is not None and claim.previous_success.run_id == first.run_id
    assert claim.previous_success == store.previous_success("etl", second.logical_date)
    first_claim = store.start_try(queued_ti(store, first), 0, "host", 1, T0)
    assert first_claim is not None and first_claim.previous_success is None


def test_a_finish_with_its_start_and_a_wake_up_records_state_fields_and_history(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run)
    assert store.start_try(key, 0, "host", 1, T0) is not None
    later = T0 + timedelta(seconds=2)
    assert store.finish_try(key, "success", later, running_try=1, started=T0, wake="task finished",
                            rendered_fields={"cmd": "echo hi"})
    assert not store.finish_try(key, "failed", later, running_try=1, started=T0, wake="task finished")
    ti = store.get_task_instance(key)
    assert (ti.state, ti.duration, ti.rendered_fields) == ("success", 2.0, {"cmd": "echo hi"})
    assert [(t.try_number, t.state) for t in store.list_tries(key)] == [(1, "success")]


def test_claims_in_one_batch_win_each_queued_try_once_and_refuse_a_stale_one(store: Store) -> None:
    run = make_run(store)
    first, second = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    claims = store.start_tries([(first, 0), (second, 3), (first, 0)], "host", 7, T0)
    assert claims[0] is not None and claims[0].ti.try_number == 1 and claims[0].run.run_id == run.run_id
    assert claims[1] is None and claims[2] is None  # a stale try number, and the same try claimed twice
    states = {ti.task_id: (ti.state, ti.pid) for ti in store.list_task_instances(run.key)}
    assert states == {"extract": ("running", 7), "load": ("queued", None)}


def test_ends_in_one_batch_write_state_history_and_xcoms_only_where_the_try_still_runs(store: Store) -> None:
    from flowctl.db.runtime import TryEnd

    run = make_run(store)
    won, cleared = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    retried = queued_ti(store, make_run(store, day=1), "extract")
    store.start_tries([(won, 0), (cleared, 0), (retried, 0)], "host", 7, T0)
    assert store.set_task_state_manually(cleared, "running", "failed")  # a person marks it failed meanwhile
    later, retry_at = T0 + timedelta(seconds=2), T0 + timedelta(minutes=5)
    ends = [TryEnd(won, TaskInstanceState.SUCCESS, later, 1, T0, {"rendered_fields": {"x": 1}},
                   {"return_value": {"rows": 3}, "extra": [1, 2]}),
            TryEnd(cleared, TaskInstanceState.SUCCESS, later, 1, T0, {}, {"return_value": "stale"}),
            TryEnd(retried, TaskInstanceState.UP_FOR_RETRY, T0 + timedelta(seconds=4), 1, T0,
                   {"next_retry_at": retry_at})]
    assert store.finish_tries(ends, "task finished") == [True, False, True]
    again = store.get_task_instance(retried)
    assert (again.state, again.duration, again.rendered_fields) == ("up_for_retry", 4.0, None)
    assert again.next_retry_at.replace(tzinfo=None) == retry_at.replace(tzinfo=None)
    assert [(t.try_number, t.state) for t in store.list_tries(retried)] == [(1, "up_for_retry")]
    done = store.get_task_instance(won)
    assert (done.state, done.duration, done.rendered_fields) == ("success", 2.0, {"x": 1})
    assert [(t.try_number, t.state) for t in store.list_tries(won)] == [(1, "success")]
    assert store.xcom_pull(run.key, "extract") == {"rows": 3}
    assert store.xcom_pull(run.key, "extract", key="extra") == [1, 2]
    assert store.xcom_pull(run.key, "load", default="none") == "none"
    assert store.get_task_instance(cleared).state == "failed"


def test_heartbeats_in_one_batch_report_which_tries_still_run(store: Store) -> None:
    run = make_run(store)
    running, cleared = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    store.start_tries([(running, 0), (cleared, 0)], "host", 7, T0)
    assert store.set_task_state_manually(cleared, "running", "pending")
    later = T0 + timedelta(seconds=5)
    assert store.heartbeat_tries([(running, 1), (cleared, 1), (running, 2)], later) == [True, False, False]
    assert store.get_task_instance(running).last_heartbeat_at.replace(tzinfo=None) == later.replace(tzinfo=None)


def test_a_single_end_writes_its_xcoms_with_its_state_only_when_it_wins(store: Store) -> None:
    run = make_run(store)
    key, stale = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    store.start_tries([(key, 0), (stale, 0)], "host", 7, T0)
    assert store.finish_try(key, "success", T0, running_try=1, started=T0, wake="task finished",
                            xcoms={"return_value": [1, 2]}, rendered_fields={})
    assert not store.finish_try(stale, "success", T0, running_try=2, started=T0, wake="task finished",
                                xcoms={"return_value": "stale"})
    assert store.xcom_pull(run.key, "extract") == [1, 2]
    assert store.xcom_pull(run.key, "load", default="none") == "none"


def test_ending_tries_and_claiming_the_ones_that_take_their_slots_is_one_call(store: Store) -> None:
    from flowctl.db.runtime import TryEnd

    run = make_run(store)
    ending, waiting = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    store.start_tries([(ending, 0)], "host", 7, T0)
    later = T0 + timedelta(seconds=3)
    won, claims = store.finish_and_start_tries([TryEnd(ending, TaskInstanceState.SUCCESS, later, 1, T0, {})],
                                               "task finished", [(waiting, 0)], "host", 8, later)
    assert won == [True]
    assert claims is not None and claims[0] is not None and claims[0].ti.try_number == 1
    states = {ti.task_id: (ti.state, ti.pid) for ti in store.list_task_instances(run.key)}
    assert states == {"extract": ("success", 7), "load": ("running", 8)}
    assert [(t.try_number, t.state) for t in store.list_tries(ending)] == [(1, "success")]


def test_ending_and_claiming_in_one_call_is_all_or_nothing(store: Store, monkeypatch: Any) -> None:
    from flowctl.db.runtime import TryEnd

    run = make_run(store)
    ending, waiting = queued_ti(store, run, "extract"), queued_ti(store, run, "load")
    store.start_tries([(ending, 0)], "host", 7, T0)

    def connection_lost(*args: Any) -> None:  # the claims fail after the ends were written
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "_claims_on", connection_lost)
    try:
        store.finish_and_start_tries([TryEnd(ending, TaskInstanceState.SUCCESS, T0, 1, T0, {})], "task finished",
                                     [(waiting, 0)], "host", 8, T0)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failure was not reported")
    assert store.get_task_instance(ending).state == "running"  # the end was rolled back with the claims
    assert store.list_tries(ending) == []
    assert store.get_task_instance(waiting).state == "queued"


def test_external_states_of_a_task_group_are_those_of_its_tasks_as_the_latest_parse_has_them(store: Store) -> None:
    run = make_run(store)
    assert store.external_states("grouped", None, run.logical_date, task_group_id="load") == []  # never parsed
    tree = {"group_id": None, "children": ["extract", {"group_id": "load", "children": [
        "load.a", {"group_id": "load.deep", "children": ["load.deep.b"]}]}]}
    store.sync_dag(serialized("etl", ("extract", "load.a", "load.deep.b"), task_group=tree), FILE, T0)
    day = T0 + timedelta(days=1)
    later = store.create_run("etl", "manual__grouped", run_type="manual", logical_date=day, now=T0,
                             data_interval=(day, day + timedelta(days=1)))
    assert store.set_task_state(TaskInstanceKey("etl", later.run_id, "load.a"), "pending", "skipped")
    assert store.external_states("etl", None, later.logical_date, task_group_id="load") == ["skipped", "pending"]
    assert store.external_states("etl", None, later.logical_date, task_group_id="load.deep") == ["pending"]
    assert store.external_states("etl", None, T0 + timedelta(days=9), task_group_id="load") == []
    with pytest.raises(FlowctlError, match="no task group 'nope'"):
        store.external_states("etl", None, later.logical_date, task_group_id="nope")


def test_the_external_dag_tree_is_the_latest_parses_task_groups_or_none_for_an_unknown_dag(store: Store) -> None:
    assert store.external_dag_tree("grouped") is None  # never parsed
    tree = {"group_id": None, "children": ["extract", {"group_id": "load", "children": ["load.a"]}]}
    store.sync_dag(serialized("grouped", ("extract", "load.a"), task_group=tree), FILE, T0)
    assert store.external_dag_tree("grouped") == tree
