"""Five-field cron expressions over naive wall-clock time, backed by croniter.

Owns the cron syntax flowctl accepts: whatever croniter accepts for five
fields (``*``, ranges, steps, lists, names, ``L``, ``#``), as Airflow does.
Time zones are :mod:`flowctl.core.timetables.cron`'s job, not this module's:
everything here is naive local wall-clock time. Pure: croniter does no I/O
once imported (the layering test pre-imports it, see tests/test_layers.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from flowctl.core.errors import DagDefinitionError


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A validated five-field cron expression."""

    text: str
    hours: frozenset[int] = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``; DagDefinitionError naming it if it is not a valid expression."""
        if len(text.split()) != 5:
            raise DagDefinitionError(f"invalid cron expression {text!r} for schedule")
        try:
            expanded = croniter(text, datetime(2000, 1, 1)).expanded
        except (CroniterBadCronError, CroniterError, ValueError, KeyError):
            raise DagDefinitionError(f"invalid cron expression {text!r} for schedule") from None
        hours = frozenset(range(24)) if expanded[1] == ["*"] else frozenset(int(h) for h in expanded[1])
        expression = cls(text, hours)
        expression.next_wall(datetime(2000, 1, 1))  # refuses expressions that never fire
        return expression

    def matches(self, wall: datetime) -> bool:
        """True when the naive wall-clock minute ``wall`` fires."""
        if wall.second or wall.microsecond:
            return False
        return bool(croniter.match(self.text, wall))

    def next_wall(self, after: datetime) -> datetime:
        """The first firing wall-clock minute strictly after ``after``."""
        try:
            return croniter(self.text, after).get_next(datetime)
        except CroniterBadDateError:
            raise DagDefinitionError(f"cron expression {self.text!r} never fires") from None

    def prev_wall(self, before: datetime) -> datetime:
        """The last firing wall-clock minute strictly before ``before``."""
        try:
            return croniter(self.text, before).get_prev(datetime)
        except CroniterBadDateError:
            raise DagDefinitionError(f"cron expression {self.text!r} never fires") from None
