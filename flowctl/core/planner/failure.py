"""What a try that died without recording its end becomes: failed, or up_for_retry and when.

Used for zombies (heartbeat stopped), executor-reported crashes and timed-out
runs. Same rule as the runner's: retry while ``try_number <= max_tries``.
Pure: must not import outside flowctl.core.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.planner.graph import TaskSpec
from flowctl.core.retry_policy import compute_retry_delay
from flowctl.core.states import TaskInstanceState


@dataclass(frozen=True, slots=True)
class FailedTry:
    """The state to record and, for a retry, when it becomes due."""

    state: TaskInstanceState
    next_retry_at: datetime | None = None


def failed_try(key: TaskInstanceKey, spec: TaskSpec | None, try_number: int, max_tries: int,
               now: datetime) -> FailedTry:
    """failed, or up_for_retry with next_retry_at, for try ``try_number`` (1-based) that died."""
    if try_number > max_tries or spec is None:
        return FailedTry(TaskInstanceState.FAILED)
    delay = compute_retry_delay(try_number, retry_delay=spec.retry_delay,
                                exponential=spec.retry_exponential_backoff,
                                max_retry_delay=spec.max_retry_delay, jitter_key=str(key))
    return FailedTry(TaskInstanceState.UP_FOR_RETRY, now + delay)
