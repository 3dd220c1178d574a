"""Five-field cron expressions over naive wall-clock time: parse, match, step.

Owns the cron syntax flowctl accepts (the classic Vixie set that Airflow DAGs
use): ``*``, ``?``, numbers, ``a-b`` ranges, ``/n`` steps, comma lists, month
and weekday names, weekday 7 as Sunday. When both day-of-month and
day-of-week are restricted a day matching either one fires, as in cron.
Time zones are :mod:`flowctl.core.timetables.cron`'s job, not this module's.

Written here instead of using croniter because importing croniter runs an
external command (``platform.architecture()``), and core does no I/O.
Pure: standard library and ``flowctl.core.errors`` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flowctl.core.errors import DagDefinitionError

_MONTHS = ("jan feb mar apr may jun jul aug sep oct nov dec").split()
_DAYS = ("sun mon tue wed thu fri sat").split()
# (low, high, names) per field: minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, tuple(_MONTHS)), (0, 7, tuple(_DAYS)),
)
# An expression that never fires (``0 0 30 2 *``) gives up after this many steps.
_MAX_STEPS = 20_000
_MINUTE = timedelta(minutes=1)


def _value(text: str, low: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if low == 1 else 0)
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _parse_part(part: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    base, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if step < 1 or (step_text and not step_text.isdigit()):
        raise ValueError(part)
    if base in ("*", "?"):
        first, last = low, high
    elif "-" in base:
        first_text, last_text = base.split("-", 1)
        first, last = _value(first_text, low, names), _value(last_text, low, names)
    else:
        first = _value(base, low, names)
        last = high if step_text else first
    if not low <= first <= last <= high:
        raise ValueError(part)
    return set(range(first, last + 1, step))


def _parse_field(text: str, index: int) -> frozenset[int]:
    low, high, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        values |= _parse_part(part, low, high, names)
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed five-field cron expression."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_or: bool  # both day fields restricted: either may match

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``; DagDefinitionError naming it if it is not a valid expression."""
        fields = text.split()
        try:
            if len(fields) != 5:
                raise ValueError(text)
            sets = [_parse_field(field, i) for i, field in enumerate(fields)]
        except ValueError:
            raise DagDefinitionError(f"invalid cron expression {text!r} for schedule") from None
        restricted = not fields[2].startswith(("*", "?")) and not fields[4].startswith(("*", "?"))
        expression = cls(text, *sets, day_or=restricted)
        expression.next_wall(datetime(2000, 1, 1))  # refuses expressions that never fire
        return expression

    def matches(self, wall: datetime) -> bool:
        """True when the naive wall-clock minute ``wall`` fires."""
        return (
            wall.second == 0 and wall.microsecond == 0 and wall.minute in self.minutes
            and wall.hour in self.hours and self._day_matches(wall.date())
        )

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        return in_days or in_weekdays if self.day_or else in_days and in_weekdays

    def next_wall(self, after: datetime) -> datetime:
        """The first firing wall-clock minute strictly after ``after``."""
        t = after.replace(second=0, microsecond=0) + _MINUTE
        for _ in range(_MAX_STEPS):
            if not self._day_matches(t.date()):
                t = datetime.combine(t.date() + timedelta(days=1), datetime.min.time())
            elif t.hour not in self.hours:
                later = [h for h in self.hours if h > t.hour]
                t = t.replace(hour=min(later), minute=0) if later else _next_day(t)
            elif t.minute not in self.minutes:
                later = [m for m in self.minutes if m > t.minute]
                t = t.replace(minute=min(later)) if later else _next_hour(t)
            else:
                return t
        raise DagDefinitionError(f"cron expression {self.text!r} never fires")

    def prev_wall(self, before: datetime) -> datetime:
        """The last firing wall-clock minute strictly before ``before``."""
        t = before.replace(second=0, microsecond=0)
        if t == before:
            t -= _MINUTE
        for _ in range(_MAX_STEPS):
            if not self._day_matches(t.date()):
                t = datetime.combine(t.date(), datetime.min.time()) - _MINUTE
            elif t.hour not in self.hours:
                earlier = [h for h in self.hours if h < t.hour]
                t = t.replace(hour=max(earlier), minute=59) if earlier else _day_start(t) - _MINUTE
            elif t.minute not in self.minutes:
                earlier = [m for m in self.minutes if m < t.minute]
                t = t.replace(minute=max(earlier)) if earlier else t.replace(minute=0) - _MINUTE
            else:
                return t
        raise DagDefinitionError(f"cron expression {self.text!r} never fires")


def _day_start(t: datetime) -> datetime:
    return datetime.combine(t.date(), datetime.min.time())


def _next_day(t: datetime) -> datetime:
    return _day_start(t) + timedelta(days=1)


def _next_hour(t: datetime) -> datetime:
    return t.replace(minute=0) + timedelta(hours=1)
