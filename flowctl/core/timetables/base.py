"""The timetable contract: data intervals, run infos, restrictions and the Timetable base.

Owns the value types every timetable speaks in. Pure: must not import anything
outside ``flowctl.core`` and the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from flowctl.core.errors import NotSupportedError

UTC = timezone.utc


def to_utc(moment: datetime) -> datetime:
    """Return an aware datetime converted to UTC; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} must be timezone-aware")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DataInterval:
    """The period of data a DAG run processes: ``[start, end)``, both in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start))
        object.__setattr__(self, "end", to_utc(self.end))
        if self.end < self.start:
            raise ValueError(f"data interval ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """An empty interval at one instant (manual runs, @once, None schedules)."""
        return cls(at, at)


@dataclass(frozen=True, slots=True)
class DagRunInfo:
    """When the next run may be created (``run_after``) and which data it covers."""

    run_after: datetime
    data_interval: DataInterval

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_after", to_utc(self.run_after))

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        """A run at ``at`` covering the empty interval ``[at, at)``."""
        return cls(at, DataInterval.exact(at))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        """A run covering ``[start, end)``, created once ``end`` has passed."""
        return cls(end, DataInterval(start, end))

    @property
    def logical_date(self) -> datetime:
        """Airflow's logical date (formerly execution_date): the interval start."""
        return self.data_interval.start


@dataclass(frozen=True, slots=True)
class TimeRestriction:
    """What bounds scheduling: the DAG's start_date, end_date and catchup flag."""

    earliest: datetime | None
    latest: datetime | None
    catchup: bool

    def __post_init__(self) -> None:
        if self.earliest is not None:
            object.__setattr__(self, "earliest", to_utc(self.earliest))
        if self.latest is not None:
            object.__setattr__(self, "latest", to_utc(self.latest))


class Timetable:
    """Decides when a DAG runs and what data each run covers.

    Subclasses are registered by their dotted name so that
    :func:`flowctl.core.timetables.timetable_from_dict` can rebuild them from
    ``serialize()`` output, as long as the defining module was imported.
    """

    registry: ClassVar[dict[str, type[Timetable]]] = {}
    #: True when the timetable produces runs by itself (not only manual ones).
    can_be_scheduled: ClassVar[bool] = True
    #: True when runs repeat at a regular cadence (cron or delta).
    periodic: ClassVar[bool] = False
    #: Upper bound on concurrently active runs the timetable needs, or None.
    active_runs_limit: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Timetable.registry[cls.type_name()] = cls

    @classmethod
    def type_name(cls) -> str:
        """The key this class is stored under in serialized form."""
        return f"{cls.__module__}.{cls.__qualname__}"

    @property
    def summary(self) -> str:
        """A short human description, e.g. ``@daily`` or ``0 * * * *``."""
        return type(self).__name__

    @property
    def description(self) -> str:
        """A longer description for the UI; defaults to the summary."""
        return self.summary

    @property
    def can_run(self) -> bool:
        """Airflow's older name for :attr:`can_be_scheduled`."""
        return self.can_be_scheduled

    def validate(self) -> None:
        """Raise DagDefinitionError if the timetable is unusable (checked at parse time)."""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
        now: datetime,
    ) -> DagRunInfo | None:
        """The next scheduled run after the last one, or None if there is none."""
        raise NotImplementedError

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        """A JSON-safe dict; ``timetable_from_dict`` turns it back into an equal timetable."""
        return {"__type": self.type_name(), **self._fields()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from the fields written by :meth:`serialize` (without ``__type``)."""
        return cls()

    def _fields(self) -> dict[str, Any]:
        return {}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Timetable)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self), repr(sorted(self._fields().items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"


#: The flowctl ways instead of a Timetable subclass of one's own.
CUSTOM_TIMETABLE_WAY = (
    "the scheduler runs no code from DAG files (and loads no plugins to register timetables), so it could not "
    "compute its runs; use schedule= a cron expression or preset, a timedelta, CronTriggerTimetable "
    "(flowctl.timetables.trigger), CronDataIntervalTimetable / DeltaDataIntervalTimetable "
    "(flowctl.timetables.interval), EventsTimetable(event_dates=[...]) (flowctl.timetables.events) for "
    "irregular dates, datasets or DatasetOrTimeSchedule; or schedule=None and trigger runs with "
    "`flowctl dags trigger` or TriggerDagRunOperator")


def check_builtin(timetable: Timetable) -> None:
    """NotSupportedError for a Timetable subclass defined outside flowctl (directly, or as the time
    schedule of a DatasetOrTimeSchedule)."""
    for part in (timetable, getattr(timetable, "timetable", None)):
        if isinstance(part, Timetable) and not type(part).__module__.startswith("flowctl."):
            raise NotSupportedError(f"custom timetable {type(part).__qualname__} is not supported by flowctl; "
                                    + CUSTOM_TIMETABLE_WAY)


def past_end(start: datetime, restriction: TimeRestriction) -> bool:
    """True when ``start`` is after the restriction's end_date (no run may start there)."""
    return restriction.latest is not None and start > restriction.latest
