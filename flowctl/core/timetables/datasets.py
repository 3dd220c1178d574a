"""Dataset schedules: ``schedule=[ds1, ds2]`` / ``ds1 | ds2``, and datasets or a time schedule.

:class:`DatasetTriggeredTimetable` makes no runs by time (its summary is
``Dataset``); the scheduler makes a dataset-triggered run when its condition
holds over the datasets updated since the DAG's last such run.
:class:`DatasetOrTimeSchedule` adds the runs of a time-based timetable.
Both carry their condition in :meth:`serialize`, so the scheduler reads it from
the serialized DAG. Pure: must not import anything outside ``flowctl.core``.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flowctl.core.datasets import BaseDataset, DatasetAll, condition_from_json
from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

#: The summary Airflow shows for a DAG scheduled on aliases only, none of which has resolved to a
#: dataset yet (the database knows: the metadata layer puts it on the DAG's row).
UNRESOLVED_ALIAS_SUMMARY = "Unresolved DatasetAlias"


def _condition(datasets: Any) -> BaseDataset:
    if isinstance(datasets, BaseDataset):
        return datasets
    items = list(datasets or ())
    if items and all(isinstance(item, BaseDataset) for item in items):
        return DatasetAll(*items)
    raise DagDefinitionError(f"datasets must be a Dataset, a condition of them (a & b, a | b) or a non-empty "
                             f"list of Dataset objects, not {datasets!r}")


def dataset_run_interval(logical_date: datetime, spans: Iterable[tuple[datetime, datetime]]) -> DataInterval:
    """A dataset-triggered run's data interval (Airflow): from the earliest to the latest of its
    events' spans (each the producing run's data interval, or the event's time); none: the logical date."""
    listed = list(spans)
    if not listed:
        return DataInterval.exact(logical_date)
    return DataInterval(min(start for start, _ in listed), max(end for _, end in listed))


class DatasetTriggeredTimetable(Timetable):
    """``schedule=`` datasets: runs come from dataset updates only, never from the clock."""

    def __init__(self, condition: BaseDataset) -> None:
        self.dataset_condition = _condition(condition)

    @property
    def summary(self) -> str:
        """``Dataset``, as Airflow shows it (:data:`UNRESOLVED_ALIAS_SUMMARY` on the DAG's row while
        its schedule names no dataset but aliases that resolved to none)."""
        return "Dataset"

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction, now: datetime) -> DagRunInfo | None:
        """Always None: the scheduler makes dataset-triggered runs apart from timetables."""
        return None

    def _fields(self) -> dict[str, Any]:
        return {"condition": self.dataset_condition.as_json()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ``condition``."""
        return cls(condition_from_json(data["condition"]))


class DatasetOrTimeSchedule(Timetable):
    """Runs by ``timetable`` and, besides, whenever ``datasets`` are updated (Airflow 2.9)."""

    def __init__(self, *, timetable: Timetable, datasets: Any) -> None:
        if not isinstance(timetable, Timetable):
            raise DagDefinitionError(f"DatasetOrTimeSchedule needs a Timetable as timetable=, not {timetable!r}")
        self.timetable = timetable
        self.dataset_condition = _condition(datasets)

    @property
    def summary(self) -> str:
        """The time schedule's summary (as Airflow)."""
        return self.timetable.summary

    @property
    def description(self) -> str:
        """The time schedule's description, and that datasets trigger runs too."""
        return f"{self.timetable.description}, or on dataset updates"

    def validate(self) -> None:
        """The time schedule's checks."""
        self.timetable.validate()

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction, now: datetime) -> DagRunInfo | None:
        """The time schedule's next run."""
        return self.timetable.next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                               restriction=restriction, now=now)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The time schedule's interval of a manual run."""
        return self.timetable.infer_manual_data_interval(run_after=run_after)

    def _fields(self) -> dict[str, Any]:
        return {"timetable": self.timetable.serialize(), "condition": self.dataset_condition.as_json()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from ``timetable`` and ``condition``."""
        from flowctl.core.timetables import timetable_from_dict

        return cls(timetable=timetable_from_dict(data["timetable"]), datasets=condition_from_json(data["condition"]))


def dataset_condition_of(timetable: Any) -> BaseDataset | None:
    """The dataset condition a DAG's timetable waits for, if it is a dataset schedule."""
    condition = getattr(timetable, "dataset_condition", None)
    return condition if isinstance(condition, BaseDataset) else None
