"""The pure decision from a try's error to the state to record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flowctl.core.errors import SensorTimeout, TaskFailedNoRetry, TaskRescheduled, TaskSkipped, TaskTimeout
from flowctl.core.keys import TaskInstanceKey
from flowctl.task_runner.logs import log_relative_path
from flowctl.task_runner.outcome import decide_outcome

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _decide(error: BaseException | None, try_number: int = 1, max_tries: int = 2) -> object:
    return decide_outcome(error, try_number=try_number, max_tries=max_tries,
                          retry_delay=lambda n: timedelta(minutes=n), now=NOW)


def test_no_error_is_success() -> None:
    assert _decide(None).state.value == "success"  # type: ignore[attr-defined]


def test_an_error_with_tries_left_is_up_for_retry_after_the_delay_of_that_try() -> None:
    outcome = _decide(ValueError("x"), try_number=2, max_tries=2)
    assert outcome.state.value == "up_for_retry"  # type: ignore[attr-defined]
    assert outcome.next_retry_at == NOW + timedelta(minutes=2)  # type: ignore[attr-defined]


def test_an_error_on_the_last_try_fails() -> None:
    assert _decide(TaskTimeout("late"), try_number=3, max_tries=2).state.value == "failed"  # type: ignore[attr-defined]


def test_fail_without_retry_and_sensor_timeout_fail_at_once() -> None:
    for error in (TaskFailedNoRetry("no"), SensorTimeout("waited")):
        assert _decide(error, try_number=1, max_tries=5).state.value == "failed"  # type: ignore[attr-defined]


def test_skip_and_reschedule_map_to_their_states() -> None:
    assert _decide(TaskSkipped("s")).state.value == "skipped"  # type: ignore[attr-defined]
    outcome = _decide(TaskRescheduled(NOW + timedelta(seconds=30)))
    assert outcome.state.value == "up_for_reschedule" and not outcome.counts_as_try  # type: ignore[attr-defined]
    assert outcome.reschedule_date == NOW + timedelta(seconds=30)  # type: ignore[attr-defined]


def test_log_paths_follow_airflows_layout_with_the_map_index_for_mapped_tasks() -> None:
    plain = log_relative_path(TaskInstanceKey("etl", "manual__1", "load"), 2)
    mapped = log_relative_path(TaskInstanceKey("etl", "manual__1", "load", 3), 1)
    assert str(plain) == "dag_id=etl/run_id=manual__1/task_id=load/attempt=2.log"
    assert str(mapped) == "dag_id=etl/run_id=manual__1/task_id=load/map_index=3/attempt=1.log"


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this error raises")


def test_an_error_whose_str_raises_still_decides_the_outcome_and_is_described_by_its_type() -> None:
    outcome = _decide(_UnprintableError())
    assert outcome.state.value == "up_for_retry"  # type: ignore[attr-defined]
    assert outcome.error == "_UnprintableError: <exception str() failed>"  # type: ignore[attr-defined]
