"""The scheduler and deferred tasks: a run waits for them, they are never zombies, and a deferral
past its trigger_timeout resumes in ``__fail__`` (the task then fails, retried per its policy)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flowctl.core.deferral import FAIL_METHOD, TIMEOUT_ERROR
from tests.scheduler.helpers import T0, tick_until_idle
from tests.scheduler.test_loop import chain, hung_try, states


def test_a_deferral_past_its_timeout_is_failed_by_the_scheduler_and_the_run_waits_until_then(
        store: Any, tmp_path: Path) -> None:
    scheduler, executor, key = hung_try(store, tmp_path, chain("deferring", 2), "t0")
    assert store.defer_try(key, 1, "flowctl.triggers.temporal.DateTimeTrigger", {}, "done", {},
                           T0 + timedelta(hours=1), T0)
    tick_until_idle(scheduler, T0 + timedelta(minutes=30))  # far past the zombie threshold: not a zombie
    assert states(store, key.run_key) == {"t0": "deferred", "t1": "pending"}
    assert store.get_run("deferring", key.run_id).state == "running"
    assert scheduler.tick(T0 + timedelta(minutes=30)).next_wakeup <= T0 + timedelta(hours=1)
    executor.behaviour["t0"] = "fail"  # what the runner does with a task resumed in __fail__
    queued_before = len(executor.submitted)
    report = scheduler.tick(T0 + timedelta(hours=1, seconds=1))
    assert report.requeued == 1
    resumed = executor.submitted[queued_before:]
    assert [w.key for w in resumed] == [key] and resumed[0].try_number == 0  # the same try resumes
    ti = store.get_task_instance(key)
    assert ti.next_method == FAIL_METHOD and dict(ti.next_kwargs or {}) == {"error": TIMEOUT_ERROR}
    tick_until_idle(scheduler, T0 + timedelta(hours=1, seconds=1))
    assert states(store, key.run_key) == {"t0": "failed", "t1": "upstream_failed"}
    assert store.delete_unused_triggers() == 1
