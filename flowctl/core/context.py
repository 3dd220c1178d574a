"""The template context: the names a task's templates and ``execute(context)`` see.

Owns :class:`RunInfo` (the run record the context is built from),
:func:`build_context` (Airflow 2 key names: ``ds``, ``ts``, ``data_interval_start``,
``params``, ``ti``, ``var``, ``conn``, ``macros``, ...) and the ``var`` / ``conn``
accessors. Building the context is pure: variables and connections are read
through callables the caller passes in, only when a template asks for them.

Must not import anything outside the standard library, pendulum and flowctl.core.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum

from flowctl.core import macros
from flowctl.core.keys import RunKey
from flowctl.core.errors import NotFoundError, NotSupportedError, TemplateRenderError, VariableNotFound

VarAccessor = Callable[[str], "str | None"]
ConnAccessor = Callable[[str], Any]

#: Run types whose logical date someone chose by hand (Airflow: ``external_trigger``).
MANUAL_RUN_TYPES = frozenset({"manual"})


class TaskInstanceLookups:
    """Airflow's ``dag_run.get_task_instance(task_id)`` and ``get_task_instances(state=...)``, read
    through ``self.reads`` (``flowctl.task_runner.run_reads``: the Store's records, or an error
    saying there is no database); a part of :class:`RunInfo`."""

    __slots__ = ()
    dag_id: str
    run_id: str
    reads: Any

    def get_task_instance(self, task_id: str, map_index: int = -1, session: Any = None) -> Any:
        """The run's task instance of ``task_id`` (and ``map_index``), or None."""
        return self._reads().task_instance(RunKey(self.dag_id, self.run_id), task_id, map_index)

    def get_task_instances(self, state: Any = None, session: Any = None) -> list[Any]:
        """The run's task instances (by task id, map index); only those in ``state`` (one or several) if given."""
        return list(self._reads().task_instances(RunKey(self.dag_id, self.run_id), state))

    def _reads(self) -> Any:
        if self.reads is None:
            raise NotSupportedError(f"run {self.run_id!r} was given without a way to read its task instances "
                                    "(no database here)")
        return self.reads


@dataclass(frozen=True, slots=True)
class RunInfo(TaskInstanceLookups):
    """What the template context needs to know about one DAG run (``dag_run`` in templates).

    ``state``, ``end_date`` and ``queued_at`` are the run row's when the try started (None for a
    test run that is not in the database): a run is running while its tasks run.
    """

    run_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_type: str
    conf: Mapping[str, Any] = field(default_factory=dict)
    start_date: datetime | None = None
    dag_id: str = ""  # what Airflow callbacks read as context["dag_run"].dag_id
    state: str | None = None
    end_date: datetime | None = None
    queued_at: datetime | None = None
    reads: Any = field(default=None, compare=False, repr=False)

    def with_reads(self, reads: Any) -> RunInfo:
        """This run, its task-instance lookups going through ``reads``."""
        return dataclasses.replace(self, reads=reads)

    @property
    def execution_date(self) -> datetime:
        """Airflow's older name for ``logical_date``."""
        return self.logical_date

    @property
    def external_trigger(self) -> bool:
        """True when the run was triggered by hand rather than by the schedule."""
        return self.run_type in MANUAL_RUN_TYPES

    @classmethod
    def find(cls, *args: Any, **kwargs: Any) -> Any:
        """Airflow's ``DagRun.find`` (``flowctl.models.DagRun`` is this class) queries the database."""
        raise NotSupportedError(
            "DagRun.find() is not supported by flowctl (no database queries from DAG code); wait for another "
            "DAG's run with ExternalTaskSensor, or list runs with `flowctl dags list-runs`")


class _VariableValues:
    """``{{ var.value.key }}`` and ``{{ var.value.get('key', default) }}``: the raw strings."""

    __slots__ = ("_lookup",)

    def __init__(self, lookup: VarAccessor) -> None:
        self._lookup = lookup

    def _convert(self, key: str, raw: str) -> Any:
        return raw

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __getitem__(self, key: str) -> Any:
        raw = self._lookup(key)
        if raw is None:
            raise VariableNotFound(f"Variable {key!r} does not exist")
        return self._convert(key, raw)

    def get(self, key: str, default_var: Any = None) -> Any:
        """The variable's value, or ``default_var`` when it does not exist."""
        raw = self._lookup(key)
        return default_var if raw is None else self._convert(key, raw)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _VariableJson(_VariableValues):
    """``{{ var.json.key }}``: the variable's value parsed as JSON."""

    __slots__ = ()

    def _convert(self, key: str, raw: str) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise TemplateRenderError(f"Variable {key!r} is not valid JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class VariableAccessor(Mapping[str, _VariableValues]):
    """The ``var`` context entry: ``var.value`` gives strings, ``var.json`` parsed JSON; also
    Airflow 2's dict of the two, ``var["value"]`` and ``var["json"]``."""

    value: _VariableValues
    json: _VariableJson

    @classmethod
    def over(cls, lookup: VarAccessor) -> VariableAccessor:
        """An accessor that reads variables through ``lookup(key) -> str | None``."""
        return cls(value=_VariableValues(lookup), json=_VariableJson(lookup))

    def __getitem__(self, name: str) -> _VariableValues:
        if name == "value":
            return self.value
        if name == "json":
            return self.json
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("json", "value"))

    def __len__(self) -> int:
        return 2


class ConnectionAccessor:
    """The ``conn`` context entry: ``{{ conn.my_db.host }}``, ``conn.get('my_db')``."""

    __slots__ = ("_lookup",)

    def __init__(self, lookup: ConnAccessor) -> None:
        self._lookup = lookup

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("_"):
            raise AttributeError(conn_id)
        return self._lookup(conn_id)

    def __getitem__(self, conn_id: str) -> Any:
        return self._lookup(conn_id)

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        """The connection, or ``default_conn`` when it does not exist."""
        try:
            return self._lookup(conn_id)
        except NotFoundError:
            return default_conn

    def __repr__(self) -> str:
        return "<ConnectionAccessor>"


_UTC = pendulum.UTC
_DAY = timedelta(days=1)


def as_utc(moment: datetime) -> pendulum.DateTime:
    """``moment`` as a pendulum DateTime in UTC; a naive datetime is taken to be UTC."""
    zone = moment.tzinfo
    if type(moment) is pendulum.DateTime and zone is _UTC:
        return moment
    if type(moment) is datetime and (zone is None or zone is timezone.utc):
        # What pendulum.instance(...).in_timezone("UTC") gives for these (fold included),
        # built directly: that route costs several times more (a try converts half a dozen).
        return pendulum.DateTime(moment.year, moment.month, moment.day, moment.hour, moment.minute,
                                 moment.second, moment.microsecond, tzinfo=_UTC, fold=moment.fold)
    return pendulum.instance(moment, tz="UTC").in_timezone("UTC")


def _optional_utc(moment: datetime | None) -> pendulum.DateTime | None:
    return None if moment is None else as_utc(moment)


def date_keys(logical_date: pendulum.DateTime) -> dict[str, Any]:
    """``ds``, ``ts`` and their variants for one logical date (already in UTC)."""
    ts = logical_date.isoformat()
    return {
        "ds": logical_date.strftime("%Y-%m-%d"),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "ts": ts,
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "logical_date": logical_date,
        "execution_date": logical_date,
    }


def neighbour_keys(run: RunInfo, timetable: Any = None) -> dict[str, Any]:
    """Airflow 2's deprecated ``next_*``, ``prev_*``, ``yesterday_*``, ``tomorrow_*`` keys.

    The next logical date is the end of the data interval; the previous one is
    the start of the interval before, from the DAG's ``timetable`` (a monthly
    run of March 1st follows February 1st, a weekday run on Monday follows
    Friday's); without a timetable that knows, one interval width earlier. A
    manual run's neighbours are its own logical date, as in Airflow.
    """
    return _neighbour_keys(as_utc(run.logical_date), as_utc(run.data_interval_start),
                           as_utc(run.data_interval_end), run.external_trigger, timetable)


def _neighbour_keys(logical: pendulum.DateTime, start: pendulum.DateTime, end: pendulum.DateTime,
                    external_trigger: bool, timetable: Any = None) -> dict[str, Any]:
    # The stdlib's arithmetic on purpose: pendulum's operators build an Interval or go through
    # DateTime.add(), several times slower; on these UTC values the results are the same.
    width = datetime.__sub__(end, start)
    manual = external_trigger or width <= timedelta(0)
    following = logical if manual else end
    previous = logical if manual else _one_interval_before(start, width, timetable)
    keys: dict[str, Any] = {
        "next_execution_date": following,
        "prev_execution_date": previous,
    }
    for prefix, moment in (("next", following), ("prev", previous),
                           ("yesterday", datetime.__sub__(logical, _DAY)),
                           ("tomorrow", datetime.__add__(logical, _DAY))):
        keys[f"{prefix}_ds"] = moment.strftime("%Y-%m-%d")
        keys[f"{prefix}_ds_nodash"] = moment.strftime("%Y%m%d")
    return keys


def _one_interval_before(start: pendulum.DateTime, width: timedelta, timetable: Any) -> pendulum.DateTime:
    step_back = getattr(timetable, "previous_interval_start", None)
    if step_back is not None:
        return as_utc(step_back(start))
    return datetime.__sub__(start, width)


def _previous_success_keys(
    prev_success_interval: tuple[datetime, datetime] | None,
    prev_start_date_success: datetime | None,
) -> dict[str, Any]:
    start, end = prev_success_interval if prev_success_interval else (None, None)
    return {
        "prev_data_interval_start_success": _optional_utc(start),
        "prev_data_interval_end_success": _optional_utc(end),
        "prev_start_date_success": _optional_utc(prev_start_date_success),
    }


def build_context(
    *,
    dag: Any,
    task: Any,
    run: RunInfo,
    ti: Any,
    params: Mapping[str, Any],
    var_accessor: VarAccessor,
    conn_accessor: ConnAccessor,
    prev_success_interval: tuple[datetime, datetime] | None,
    prev_start_date_success: datetime | None = None,
    prev_execution_date_success: datetime | None = None,
    prev_end_date_success: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
    config: Any = None,
) -> dict[str, Any]:
    """The template context for one task try of ``run``; ``extra`` entries win over the rest.

    ``prev_*_success``: the previous successful run's data interval, start date, logical date
    (Airflow 2's deprecated ``prev_execution_date_success``) and end date (Airflow 2.10's
    ``prev_end_date_success``); None when there is none.

    ``config`` is the context's ``conf``: flowctl's settings as Airflow's ``conf`` reads them
    (``flowctl.configuration``), not the run's conf, which is ``dag_run.conf`` (and in ``params``).
    """
    attach = getattr(ti, "attach_run", None)
    if attach is not None:  # the runtime ti: ti.get_dagrun(), dag_run.get_task_instances() through its backend
        run = attach(run)
    timetable = getattr(dag, "timetable", None)
    dated = _remembered(run, timetable, prev_success_interval, prev_start_date_success)
    if dated is None:
        dated = run_keys(run, timetable, prev_success_interval, prev_start_date_success)
    context: dict[str, Any] = {
        **dated,
        "dag": dag, "task": task, "ti": ti, "task_instance": ti,
        "run_id": run.run_id, "dag_run": run,
        "params": params, "conf": config,
        "var": VariableAccessor.over(var_accessor),
        "conn": ConnectionAccessor(conn_accessor),
        "macros": macros,
        "inlets": list(getattr(task, "inlets", None) or ()),
        "outlets": list(getattr(task, "outlets", None) or ()),
        "test_mode": False,
        "map_index_template": None,
        "task_instance_key_str": _task_instance_key_str(dag, task, dated["logical_date"]),
        "prev_execution_date_success": _optional_utc(prev_execution_date_success),
        "prev_end_date_success": _optional_utc(prev_end_date_success),
    }
    context.update(extra or {})
    return context


def run_keys(run: RunInfo, timetable: Any, prev_success_interval: tuple[datetime, datetime] | None,
             prev_start_date_success: datetime | None) -> dict[str, Any]:
    """The context keys that are the same for every task of a run: ``ds``, ``ts`` and their
    variants, the data interval, the previous success's and the neighbouring dates."""
    logical = as_utc(run.logical_date)
    start, end = as_utc(run.data_interval_start), as_utc(run.data_interval_end)
    return {
        **date_keys(logical),
        "data_interval_start": start,
        "data_interval_end": end,
        **_previous_success_keys(prev_success_interval, prev_start_date_success),
        **_neighbour_keys(logical, start, end, run.external_trigger, timetable),
    }


#: :func:`run_keys` computed ahead, by the runs' values: (timetable, keys). A worker parent
#: (the local executor's zygote) fills it before forking a batch of a run's tries; each inherits
#: the keys instead of computing them (a fresh process does so at several times the cost).
_REMEMBERED: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
MAX_REMEMBERED = 64


def remember_run_keys(run: RunInfo, timetable: Any, prev_success_interval: tuple[datetime, datetime] | None,
                      prev_start_date_success: datetime | None) -> None:
    """Compute :func:`run_keys` now for :func:`build_context` to take later in this process or
    its forks (for the same run values and the same ``timetable`` object); bounded."""
    key = _run_values(run, prev_success_interval, prev_start_date_success)
    found = _REMEMBERED.get(key)
    if found is not None and found[0] is timetable:
        return
    if len(_REMEMBERED) >= MAX_REMEMBERED:
        _REMEMBERED.clear()
    _REMEMBERED[key] = (timetable, run_keys(run, timetable, prev_success_interval, prev_start_date_success))


def _remembered(run: RunInfo, timetable: Any, prev_success_interval: tuple[datetime, datetime] | None,
                prev_start_date_success: datetime | None) -> dict[str, Any] | None:
    if not _REMEMBERED:
        return None
    found = _REMEMBERED.get(_run_values(run, prev_success_interval, prev_start_date_success))
    return found[1] if found is not None and found[0] is timetable else None


def _run_values(run: RunInfo, prev_success_interval: tuple[datetime, datetime] | None,
                prev_start_date_success: datetime | None) -> tuple[Any, ...]:
    """Everything :func:`run_keys` depends on but the timetable (kept beside, compared by identity)."""
    return (run.logical_date, run.data_interval_start, run.data_interval_end, run.external_trigger,
            prev_success_interval, prev_start_date_success)


def _task_instance_key_str(dag: Any, task: Any, logical_date: pendulum.DateTime) -> str:
    dag_id = getattr(dag, "dag_id", "")
    return f"{dag_id}__{getattr(task, 'task_id', '')}__{logical_date.strftime('%Y%m%d')}"
