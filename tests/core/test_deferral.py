"""core/deferral.py: defer() raises TaskDeferred, resumption, deadlines and the JSON kept of a deferral."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from flowctl.core.deferral import (
    FAIL_METHOD, TIMEOUT_ERROR, decode_json, deferral_deadline, encode_json,
)
from flowctl.core.errors import TaskDeferralError, TaskDeferralTimeout, TaskDeferred
from flowctl.models.baseoperator import BaseOperator
from flowctl.exceptions import TaskDeferred as AirflowTaskDeferred

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class Resumable(BaseOperator):
    def done(self, context: dict, event: object = None, n: int = 0) -> tuple[object, int]:
        return event, n


def test_defer_raises_task_deferred_with_what_the_task_gave() -> None:
    op = Resumable(task_id="r")
    with pytest.raises(TaskDeferred) as raised:
        op.defer(trigger="T", method_name="done", kwargs={"n": 1}, timeout=timedelta(seconds=5))
    assert (raised.value.trigger, raised.value.method_name, raised.value.kwargs, raised.value.timeout) == (
        "T", "done", {"n": 1}, timedelta(seconds=5))
    assert AirflowTaskDeferred is TaskDeferred


def test_resume_execution_calls_the_method_with_the_kwargs_or_fails_in_fail() -> None:
    op = Resumable(task_id="r")
    assert op.resume_execution("done", {"event": 7, "n": 2}, {}) == (7, 2)
    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(FAIL_METHOD, {"error": TIMEOUT_ERROR}, {})
    with pytest.raises(TaskDeferralError, match="Trigger failure: boom"):
        op.resume_execution(FAIL_METHOD, {"error": "Trigger failure", "traceback": "boom"}, {})


def test_a_deferral_times_out_at_its_timeout_or_at_the_end_of_execution_timeout_whichever_is_first() -> None:
    assert deferral_deadline(T0, None, T0, None) is None
    assert deferral_deadline(T0, timedelta(hours=1), T0, None) == T0 + timedelta(hours=1)
    started = T0 - timedelta(minutes=50)
    assert deferral_deadline(T0, timedelta(hours=1), started, timedelta(hours=1)) == T0 + timedelta(minutes=10)


def test_kwargs_round_trip_through_json_and_what_json_cannot_hold_is_refused() -> None:
    value = {"at": T0, "day": date(2024, 1, 2), "wait": timedelta(seconds=3), "pair": (1, "a"), "n": [1, None]}
    assert decode_json(encode_json(value)) == value
    with pytest.raises(TypeError, match="object cannot be stored"):
        encode_json({"x": object()}, "the kwargs")
