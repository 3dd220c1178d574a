"""Which task instance's context a DAG callback gets (Airflow 2: the last failed one, or the last to end).

The contexts themselves are tested where they are used, with real runs: the scheduler's callback
child (tests/scheduler/test_callbacks.py), ``dags test`` (tests/cli/test_run_cmd.py) and
run_dag_callbacks on a failed try (tests/task_runner/test_context_objects.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from flowctl.task_runner.callback_context import callback_task_instance

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _ti(task_id: str, state: str, minutes: int | None) -> SimpleNamespace:
    end = None if minutes is None else T0 + timedelta(minutes=minutes)
    return SimpleNamespace(task_id=task_id, state=state, end_date=end)


def test_a_failure_callback_gets_the_last_task_instance_that_failed_not_one_upstream_failed_after_it() -> None:
    tis = [_ti("a", "failed", 1), _ti("b", "failed", 3), _ti("c", "upstream_failed", 4), _ti("d", "success", 5)]
    assert callback_task_instance(tis, "failure").task_id == "b"


def test_a_failure_without_a_failed_task_instance_gets_the_last_upstream_failed_or_else_the_last_to_end() -> None:
    assert callback_task_instance([_ti("a", "upstream_failed", 2), _ti("b", "upstream_failed", 1)],
                                  "failure").task_id == "a"
    assert callback_task_instance([_ti("a", "success", 2), _ti("b", "running", None)], "failure").task_id == "a"


def test_a_success_callback_gets_the_last_task_instance_to_end_and_never_a_removed_one() -> None:
    tis = [_ti("a", "success", 2), _ti("b", "skipped", 7), _ti("c", "success", 7), _ti("d", "removed", 9)]
    assert callback_task_instance(tis, "success").task_id == "c"  # a tie goes to the later one


def test_a_run_without_task_instances_gives_none() -> None:
    assert callback_task_instance([_ti("d", "removed", 1)], "success") is None
    assert callback_task_instance([], "failure") is None
