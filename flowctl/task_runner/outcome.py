"""How a try ends: a pure decision from what execute raised (or returned) to the state to record.

* no error -> ``success``;
* ``TaskSkipped`` (``AirflowSkipException``) -> ``skipped``;
* ``TaskRescheduled`` (a sensor in reschedule mode) -> ``up_for_reschedule`` with its
  ``reschedule_date``; the try does not count, so ``try_number`` goes back by one;
* ``TaskDeferred`` (``self.defer(...)``) -> ``deferred``, with the :class:`DeferralPlan` the
  runner stores (:func:`plan_deferral`); the try does not count either: it resumes later;
* ``TaskFailedNoRetry`` (``AirflowFailException``, ``SensorTimeout``) -> ``failed``;
* any other error (``execution_timeout`` included) -> ``up_for_retry`` while
  ``try_number <= max_tries`` (Airflow's rule: ``retries=2`` gives 3 tries), with
  ``next_retry_at = now + retry delay`` (core/retry_policy.py); ``failed`` after.

Must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.core.deferral import deferral_deadline, encode_json
from flowctl.core.errors import TaskDeferred, TaskFailedNoRetry, TaskRescheduled, TaskSkipped
from flowctl.core.states import TaskInstanceState

TI = TaskInstanceState
RetryDelay = Callable[[int], timedelta]


@dataclass(frozen=True, slots=True)
class DeferralPlan:
    """A deferral as stored: the trigger (class path, JSON kwargs), where to resume, when it times out."""

    classpath: str
    trigger_kwargs: dict[str, Any]
    next_method: str
    next_kwargs: dict[str, Any]
    timeout_at: datetime | None


@dataclass(frozen=True, slots=True)
class TryOutcome:
    """The state to record for a finished try, and the columns that go with it."""

    state: TaskInstanceState
    next_retry_at: datetime | None = None
    reschedule_date: datetime | None = None
    error: str | None = None
    deferral: DeferralPlan | None = None

    @property
    def counts_as_try(self) -> bool:
        """False for a reschedule or a deferral: the next poke, or the resumption, is the same try."""
        return self.state not in (TI.UP_FOR_RESCHEDULE, TI.DEFERRED)


def plan_deferral(deferred: TaskDeferred, *, now: datetime, started: datetime | None,
                  execution_timeout: timedelta | None) -> DeferralPlan:
    """What to store for ``deferred``: calls the trigger's ``serialize()``; TypeError if its kwargs
    (or the resume kwargs) cannot be stored as JSON."""
    classpath, kwargs = deferred.trigger.serialize()
    return DeferralPlan(str(classpath), encode_json(dict(kwargs), f"the kwargs of trigger {classpath}"),
                        deferred.method_name, encode_json(dict(deferred.kwargs or {}), "the kwargs of defer()"),
                        deferral_deadline(now, deferred.timeout, started, execution_timeout))


def describe_error(error: BaseException) -> str:
    """``Type: message`` for logs and the TI note (as Python's tracebacks, when ``str()`` of the
    error itself raises: user code's error must not stop the try from recording its end)."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - the error's own __str__ is user code
        text = "<exception str() failed>"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def decide_outcome(error: BaseException | None, *, try_number: int, max_tries: int,
                   retry_delay: RetryDelay, now: datetime) -> TryOutcome:
    """The outcome of try ``try_number`` (1-based) that ended with ``error`` (None: success)."""
    if error is None:
        return TryOutcome(TI.SUCCESS)
    if isinstance(error, TaskSkipped):
        return TryOutcome(TI.SKIPPED, error=describe_error(error))
    if isinstance(error, TaskRescheduled):
        return TryOutcome(TI.UP_FOR_RESCHEDULE, reschedule_date=_as_datetime(error.reschedule_date, now))
    if isinstance(error, TaskFailedNoRetry) or try_number > max_tries:
        return TryOutcome(TI.FAILED, error=describe_error(error))
    return TryOutcome(TI.UP_FOR_RETRY, next_retry_at=now + retry_delay(try_number), error=describe_error(error))


def _as_datetime(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, timedelta):
        return now + value
    if isinstance(value, (int, float)):
        return now + timedelta(seconds=float(value))
    return now
