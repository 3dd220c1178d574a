"""Cron arithmetic in a DAG's time zone: the next / previous matching instant.

Owns the one tricky part of cron timetables, daylight saving time. An
expression is matched against local wall-clock time, and the matches are a
strictly increasing set of UTC instants:

* Expressions that fire every hour (hour field ``*``) match every instant
  whose local time matches, so an hourly DAG runs once per real hour, twice
  through a repeated hour and not at all in a skipped one.
* Other expressions (daily at 02:30 ...) match once per wall-clock match: a
  wall time skipped by spring-forward runs at the equivalent instant after the
  jump (02:30 -> 03:30), a wall time repeated by fall-back runs on its first
  occurrence only.

Time zones come from the standard library's zoneinfo (the same IANA data
pendulum uses; pendulum Timezone objects are accepted wherever a zone is).
Pure apart from zoneinfo reading the tz database once per zone; standard
library and flowctl.core only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables.base import UTC, to_utc
from flowctl.core.timetables.cronexpr import CronExpression

#: Cron presets Airflow accepts, as cron expressions.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Wider than any UTC offset change in the tz database (2 hours, historically).
_MARGIN = timedelta(hours=3)


def zone_name(zone: str | tzinfo) -> str:
    """The IANA name of a time zone given as a name or a tzinfo object."""
    if isinstance(zone, str):
        return zone
    name = getattr(zone, "key", None) or getattr(zone, "name", None)
    if isinstance(name, str):
        return name
    if zone.utcoffset(None) == timedelta(0):
        return "UTC"
    raise DagDefinitionError(f"cannot tell the IANA name of time zone {zone!r}; pass a name")


def load_zone(name: str) -> tzinfo:
    """The tzinfo for an IANA name; DagDefinitionError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DagDefinitionError(f"unknown time zone {name!r}") from exc


def _constant_step(text: str, zone: tzinfo) -> timedelta | None:
    """The gap between consecutive matches when it never varies: every day alike (day of month,
    month and weekday all ``*``), matches evenly spread over the day, a zone without offset changes."""
    from croniter import croniter

    minutes, hours, days, months, weekdays = croniter(text, datetime(2000, 1, 1)).expanded[:5]
    if days != ["*"] or months != ["*"] or weekdays != ["*"] or zone_name(zone) not in _STEADY_ZONES:
        return None
    minutes = list(range(60)) if minutes == ["*"] else [int(m) for m in minutes]
    hours = list(range(24)) if hours == ["*"] else [int(h) for h in hours]
    fires = sorted(60 * h + m for h in hours for m in minutes)
    gaps = {b - a for a, b in zip(fires, fires[1:] + [fires[0] + 24 * 60])}
    return timedelta(minutes=gaps.pop()) if len(gaps) == 1 else None


_STEADY_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


def parse_cron(expression: str) -> CronExpression:
    """Parse a cron expression or preset; DagDefinitionError naming it if invalid."""
    if expression.startswith("@") and expression not in CRON_PRESETS:
        raise DagDefinitionError(f"unknown schedule preset {expression!r}")
    return CronExpression.parse(CRON_PRESETS.get(expression, expression))


@dataclass(frozen=True)
class CronSchedule:
    """The set of UTC instants matching a cron expression in a time zone."""

    expression: str
    zone_name: str = "UTC"
    cron: CronExpression = field(init=False, compare=False)
    zone: tzinfo = field(init=False, compare=False)
    every_hour: bool = field(init=False, compare=False)
    #: The constant gap between consecutive matches, if there is one (None: it varies).
    step: timedelta | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cron", parse_cron(self.expression))
        object.__setattr__(self, "zone", load_zone(self.zone_name))
        object.__setattr__(self, "every_hour", len(self.cron.hours) == 24)
        object.__setattr__(self, "step", _constant_step(self.cron.text, self.zone))

    def next_after(self, moment: datetime) -> datetime:
        """The first match strictly after ``moment``."""
        moment = to_utc(moment)
        offset = self._steady_offset(moment)
        if offset is not None:
            wall = self.cron.next_wall(moment.replace(tzinfo=None) + offset)
            hit = (wall - offset).replace(tzinfo=UTC)
            if self._steady_offset(hit) == offset:
                return hit
        return self._scan_next(moment)

    def prev_before(self, moment: datetime) -> datetime:
        """The last match strictly before ``moment``."""
        moment = to_utc(moment)
        offset = self._steady_offset(moment)
        if offset is not None:
            wall = self.cron.prev_wall(moment.replace(tzinfo=None) + offset)
            hit = (wall - offset).replace(tzinfo=UTC)
            if self._steady_offset(hit) == offset:
                return hit
        return self._scan_prev(moment)

    def _steady_offset(self, moment: datetime) -> timedelta | None:
        """The zone's UTC offset if it does not change within the margin around ``moment``."""
        before = (moment - _MARGIN).astimezone(self.zone).utcoffset()
        after = (moment + _MARGIN).astimezone(self.zone).utcoffset()
        return before if before == after else None

    def _scan_next(self, moment: datetime) -> datetime:
        # Near a DST change wall-clock order and real order differ: scan every
        # wall-clock match around ``moment`` and keep the earliest real one.
        naive = self._local(moment)
        best: datetime | None = None
        for wall in self._walls_from(naive - _MARGIN):
            for hit in self._instants(wall):
                if hit > moment and (best is None or hit < best):
                    best = hit
            if best is not None and wall > self._local(best) + _MARGIN:
                return best
        raise AssertionError("wall-clock iterators are infinite")

    def _scan_prev(self, moment: datetime) -> datetime:
        naive = self._local(moment)
        best: datetime | None = None
        for wall in self._walls_back_from(naive + _MARGIN):
            for hit in self._instants(wall):
                if hit < moment and (best is None or hit > best):
                    best = hit
            if best is not None and wall < self._local(best) - _MARGIN:
                return best
        raise AssertionError("wall-clock iterators are infinite")

    def align_next(self, moment: datetime) -> datetime:
        """``moment`` if it matches, else the next match."""
        return moment if self.matches(moment) else self.next_after(moment)

    def align_prev(self, moment: datetime) -> datetime:
        """``moment`` if it matches, else the previous match."""
        return moment if self.matches(moment) else self.prev_before(moment)

    def matches(self, moment: datetime) -> bool:
        """True when ``moment`` is one of the schedule's instants."""
        moment = to_utc(moment)
        return self.next_after(self.prev_before(moment)) == moment

    def _local(self, moment: datetime) -> datetime:
        return to_utc(moment).astimezone(self.zone).replace(tzinfo=None)

    def _walls_from(self, start: datetime) -> Iterator[datetime]:
        wall = start - timedelta(seconds=1)  # so that ``start`` itself is included
        while True:
            wall = self.cron.next_wall(wall)
            yield wall

    def _walls_back_from(self, start: datetime) -> Iterator[datetime]:
        wall = start + timedelta(seconds=1)
        while True:
            wall = self.cron.prev_wall(wall)
            yield wall

    def _instants(self, wall: datetime) -> list[datetime]:
        """The UTC instants a local wall time stands for under this schedule's DST policy."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if not self.every_hour:
            return [first]
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        return [t for t in {first, second} if self._local(t) == wall]
