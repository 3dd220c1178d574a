"""The DAG: a named set of tasks, their edges, schedule and run-level settings.

Owns :class:`DAG` (Airflow 2 names and semantics), the stack of open
``with DAG(...)`` blocks (:class:`DagContext`), graph queries (roots, leaves,
stable topological order, transitive relatives, cycle detection naming the
cycle) and ``partial_subset`` for clearing with upstream/downstream.

Schedule: ``schedule`` (Airflow 2.4+) or the older ``schedule_interval`` or
``timetable``; at most one. When none is given the DAG runs ``"@daily"``
(Airflow 2's default). ``catchup`` is stored as given in ``catchup_setting``
(None means "the configured default"); the ``catchup`` property resolves None
to True. A naive ``start_date`` (or ``end_date``) is wall-clock time in the
process's default zone (``[core] default_timezone``, :mod:`flowctl.core.timezones`);
``dag.timezone`` is the name of the start date's zone (the default zone when
there is no start date), and the zone its cron schedule runs in, DST included.

Pure: must not import anything outside flowctl.core, pendulum and the standard
library; no I/O (``fileloc`` comes from the caller's stack frame). The one
exception is ``DAG.test()``, which runs the DAG against the metadata database:
it imports ``flowctl.scheduler.dag_test`` inside the method, when called, so
importing this module stays pure (``tests/test_layers.py``).
"""
from __future__ import annotations

import copy
import heapq
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum

from flowctl.core import timezones
from flowctl.core.errors import CycleError, DagDefinitionError, DuplicateTaskIdError, NotSupportedError, TaskNotFound
from flowctl.core.params import NOTSET, ParamsDict
from flowctl.core.taskgroup import TaskGroup, validate_key
from flowctl.core.xcom_arg import DagParam

DEFAULT_SCHEDULE = "@daily"
_UNSET: Any = object()
#: The views and graph directions a DAG may open with (Airflow 2's presets).
DEFAULT_VIEW_PRESETS = ("grid", "graph", "duration", "gantt", "landing_times")
ORIENTATION_PRESETS = ("LR", "TB", "RL", "BT")
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


class DagContext:
    """The stack of DAGs opened with ``with DAG(...)``; operators created inside join the top one."""

    _stack: list[DAG] = []
    #: DAGs whose ``with`` block closed (and ``auto_register`` is on), for the DAG file
    #: processor: it collects these besides module globals, then clears the list.
    autoregistered: list[DAG] = []

    @classmethod
    def push(cls, dag: DAG) -> None:
        cls._stack.append(dag)

    @classmethod
    def pop(cls) -> DAG | None:
        return cls._stack.pop() if cls._stack else None

    @classmethod
    def current(cls) -> DAG | None:
        """The innermost open DAG, or None."""
        return cls._stack[-1] if cls._stack else None

    get_current_dag = current


def as_utc_datetime(value: datetime | None) -> pendulum.DateTime | None:
    """A pendulum DateTime keeping an aware value's zone; a naive value is wall-clock time in the
    default zone (``[core] default_timezone``)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None:
        return pendulum.instance(value, tz=timezones.TIMEZONE)
    return pendulum.instance(value)


def timezone_name(value: datetime | None) -> str:
    """The zone name of ``value`` (the default zone's when None)."""
    if value is None:
        return timezones.default_timezone_name()
    name = getattr(value, "timezone_name", None) or getattr(value.tzinfo, "key", None)
    return name or str(value.tzinfo)


def caller_fileloc() -> str:
    """The file of the first stack frame outside the flowctl package."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<frozen"):
            return filename
        frame = frame.f_back
    return ""


def resolve_schedule(schedule: Any, schedule_interval: Any, timetable: Any) -> Any:
    """The one schedule given (``@daily`` when none); an error when several are."""
    named = {
        "schedule": schedule,
        "schedule_interval": schedule_interval,
        "timetable": timetable,
    }
    passed = [name for name, value in named.items() if value is not _UNSET]
    if len(passed) > 1:
        raise DagDefinitionError(f"pass only one of schedule, schedule_interval and timetable (got {', '.join(passed)})")
    if not passed:
        return DEFAULT_SCHEDULE
    return named[passed[0]]


class DAG:
    """A workflow: tasks, their dependencies and when to run them."""

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = _UNSET,
        schedule_interval: Any = _UNSET,
        timetable: Any = _UNSET,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        full_filepath: str | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: Any = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        concurrency: int | None = None,
        max_active_tasks: int | None = None,
        max_active_runs: int | None = None,
        max_consecutive_failed_dag_runs: int | None = None,
        dagrun_timeout: timedelta | None = None,
        sla_miss_callback: Any = None,
        default_view: str = "grid",
        orientation: str = "LR",
        catchup: bool | None = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        doc_md: str | None = None,
        params: Mapping[str, Any] | None = None,
        access_control: dict[str, Any] | None = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: Iterable[str] | None = None,
        owner_links: dict[str, str] | None = None,
        auto_register: bool = True,
        fail_stop: bool = False,
        dag_display_name: str | None = None,
    ) -> None:
        validate_key("dag_id", dag_id)
        self.dag_id = dag_id
        self.description = description
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.start_date = as_utc_datetime(start_date or self.default_args.get("start_date"))
        self.end_date = as_utc_datetime(end_date or self.default_args.get("end_date"))
        self.timezone = timezone_name(self.start_date)
        self.schedule_interval = resolve_schedule(schedule, schedule_interval, timetable)
        self.timetable = _make_timetable(self.schedule_interval, self.timezone)
        self.fileloc = full_filepath or caller_fileloc()
        self.template_searchpath = _as_list(template_searchpath)
        self.template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        self.jinja_environment_kwargs = jinja_environment_kwargs
        self.render_template_as_native_obj = render_template_as_native_obj
        self.max_active_tasks = max_active_tasks if max_active_tasks is not None else concurrency
        self.max_active_runs = max_active_runs
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise DagDefinitionError(f"dagrun_timeout of DAG {dag_id!r} must be a timedelta")
        self.dagrun_timeout = dagrun_timeout
        self.sla_miss_callback = sla_miss_callback
        self.default_view = _preset(dag_id, "default_view", "grid" if default_view == "tree" else default_view,
                                    DEFAULT_VIEW_PRESETS)
        self.orientation = _preset(dag_id, "orientation", orientation, ORIENTATION_PRESETS)
        self.catchup_setting = catchup
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.doc_md = doc_md
        self.params = ParamsDict(self.default_args.get("params")).merged(params)
        self.access_control = access_control
        self.is_paused_upon_creation = is_paused_upon_creation
        self.tags: list[str] = list(tags or [])
        self.owner_links = dict(owner_links or {})
        self.fail_stop = fail_stop
        self.auto_register = auto_register
        self.dag_display_name = dag_display_name
        self.task_dict: dict[str, Any] = {}
        self.task_group = TaskGroup.create_root(self)
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = {}  # up -> down -> {"label": ...} (Label)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    def __enter__(self) -> DAG:
        DagContext.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        DagContext.pop()
        if self.auto_register and self not in DagContext.autoregistered:
            DagContext.autoregistered.append(self)

    # --- settings -----------------------------------------------------------------
    @property
    def catchup(self) -> bool:
        """Whether missed intervals are run (None given means the default, True)."""
        return True if self.catchup_setting is None else bool(self.catchup_setting)

    @property
    def concurrency(self) -> int | None:
        return self.max_active_tasks

    @property
    def full_filepath(self) -> str:
        return self.fileloc

    @property
    def folder(self) -> str:
        return str(Path(self.fileloc).parent) if self.fileloc else ""

    @property
    def owner(self) -> str:
        """Comma-joined owners of the tasks."""
        return ", ".join(sorted({str(task.owner) for task in self.tasks}))

    @property
    def display_name(self) -> str:
        return self.dag_display_name or self.dag_id

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict[str, Any]) -> None:
        """Describe one edge (Airflow's: ``{"label": ...}``, what ``Label`` sets; the graph view draws it)."""
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = dict(info)

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, Any]:
        """What :meth:`set_edge_info` said of this edge (``{}``: nothing)."""
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    def param(self, name: str, default: Any = NOTSET) -> DagParam:
        """A reference to DAG param ``name`` usable as a task argument."""
        if name not in self.params and default is NOTSET:
            raise DagDefinitionError(f"DAG {self.dag_id!r} has no param {name!r}")
        return DagParam(name, None if default is NOTSET else default)

    def test(self, execution_date: datetime | None = None, run_conf: dict[str, Any] | None = None,
             conn_file_path: str | None = None, variable_file_path: str | None = None, use_executor: bool = False,
             mark_success_pattern: str | re.Pattern[str] | None = None, session: Any = None, *,
             logical_date: datetime | None = None, run_after: datetime | None = None) -> Any:
        """Run one run of this DAG in this process against the metadata database, printing task states and
        logs (Airflow 2.5+'s ``dag.test()``); the finished run (``flowctl.models.DagRun``)."""
        # Imported here: the run needs the database and the task runner, which core never imports at import time.
        from flowctl.scheduler import dag_test

        dag_test.refuse_unsupported(use_executor=use_executor, session=session, run_after=run_after)
        when = dag_test.chosen_date(execution_date, logical_date)
        return dag_test.run_dag_test(self, when, run_conf, conn_file_path=conn_file_path,
                                     variable_file_path=variable_file_path, mark_success_pattern=mark_success_pattern)

    def cli(self) -> Any:
        raise NotSupportedError("DAG.cli() is not supported; use the `flowctl` command")

    # --- tasks ----------------------------------------------------------------------
    @property
    def tasks(self) -> list[Any]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def task_count(self) -> int:
        return len(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> Any:
        """The task called ``task_id``; TaskNotFound names it otherwise."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFound(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    @property
    def task_group_dict(self) -> dict[str, TaskGroup]:
        """Every task group but the root, by full group id."""
        return {g.group_id: g for g in self.task_group.iter_groups() if not g.is_root}

    def add_task(self, task: Any) -> None:
        """Add ``task``; a different task with the same id raises DuplicateTaskIdError."""
        existing = self.task_dict.get(task.task_id)
        if existing is task:
            return
        if existing is not None or task.task_id in self.task_group_dict:
            raise DuplicateTaskIdError(f"task_id {task.task_id!r} is already used in DAG {self.dag_id!r}")
        if task.dag is not None and task.dag is not self:
            raise DagDefinitionError(f"task {task.task_id!r} already belongs to DAG {task.dag.dag_id!r}")
        self.task_dict[task.task_id] = task
        task.attach_to_dag(self)
        if task.start_date is None:
            task.start_date = self.start_date
        if task.end_date is None:
            task.end_date = self.end_date
        if task.task_group is None:
            task.task_group = self.task_group
            self.task_group.add(task)

    def add_tasks(self, tasks: Iterable[Any]) -> None:
        for task in tasks:
            self.add_task(task)

    # --- graph ----------------------------------------------------------------------
    @property
    def roots(self) -> list[Any]:
        """Tasks with no upstream task."""
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[Any]:
        """Tasks with no downstream task."""
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    def get_downstream_task_ids(self, task_id: str) -> set[str]:
        """Every task downstream of ``task_id``, transitively."""
        return self._reachable(task_id, "downstream_task_ids")

    def get_upstream_task_ids(self, task_id: str) -> set[str]:
        """Every task upstream of ``task_id``, transitively."""
        return self._reachable(task_id, "upstream_task_ids")

    def _reachable(self, task_id: str, attribute: str) -> set[str]:
        seen: set[str] = set()
        todo = list(getattr(self.get_task(task_id), attribute))
        while todo:
            current = todo.pop()
            if current in seen or current not in self.task_dict:
                continue
            seen.add(current)
            todo.extend(getattr(self.task_dict[current], attribute))
        return seen

    def topological_sort(self) -> list[Any]:
        """Tasks in dependency order; ties broken by insertion order. CycleError on a cycle."""
        index = {task_id: i for i, task_id in enumerate(self.task_dict)}
        waiting = {tid: len(t.upstream_task_ids & index.keys()) for tid, t in self.task_dict.items()}
        ready = [index[tid] for tid, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ids = list(self.task_dict)
        order: list[Any] = []
        while ready:
            task = self.task_dict[ids[heapq.heappop(ready)]]
            order.append(task)
            for child in task.downstream_task_ids:
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        heapq.heappush(ready, index[child])
        if len(order) != len(self.task_dict):
            self.check_cycle()
        return order

    def find_cycle(self) -> list[str] | None:
        """A cycle as a list of task ids (first id repeated at the end), or None."""
        return find_cycle({tid: t.downstream_task_ids for tid, t in self.task_dict.items()})

    def check_cycle(self) -> None:
        """Raise CycleError naming the cycle (``a -> b -> a``) if the tasks form one."""
        cycle = self.find_cycle()
        if cycle:
            raise CycleError(f"DAG {self.dag_id!r} has a cycle: {' -> '.join(cycle)}")

    def validate(self) -> None:
        """Whole-DAG checks run after the file is parsed: cycles, setup tasks' downstream trigger rules,
        schedule limits (a timetable flowctl knows), param defaults."""
        from flowctl.core.setup_teardown import check_setups
        from flowctl.core.timetables.base import check_builtin

        self.check_cycle()
        check_setups(self)
        if getattr(self.timetable, "summary", None) == "@continuous" and (self.max_active_runs or 1) != 1:
            raise DagDefinitionError(f"DAG {self.dag_id!r} uses @continuous, so max_active_runs must be 1")
        for name, param in self.params.items_params():
            if param.has_value:
                param.resolve(name=name)
        check_builtin(self.timetable)
        if getattr(self.timetable, "summary", None) != "None":
            self._check_schedulable()

    def _check_schedulable(self) -> None:
        """What a scheduled DAG needs to create runs at all (Airflow refuses these at import too)."""
        if self.start_date is None and not any(t.start_date for t in self.task_dict.values()):
            raise DagDefinitionError(f"DAG {self.dag_id!r} has a schedule but no start_date, so no run would ever "
                                     "be created: give it a start_date (or schedule=None)")
        for name, param in self.params.items_params():
            types = param.schema.get("type", ())
            if not param.has_value and "null" not in ([types] if isinstance(types, str) else types):
                raise DagDefinitionError(f"DAG {self.dag_id!r} has a schedule, but param {name!r} has no default, so "
                                         "scheduled runs could not be created: give it a default, allow null, or set "
                                         "schedule=None")

    def partial_subset(
        self,
        task_ids_or_regex: str | re.Pattern[str] | Iterable[str],
        include_downstream: bool = False,
        include_upstream: bool = True,
        include_direct_upstream: bool = False,
    ) -> DAG:
        """A copy of this DAG with only the matching tasks and, optionally, their relatives.

        The copy's tasks are shallow copies placed in a flat root task group.
        """
        matched = self._match_task_ids(task_ids_or_regex)
        keep = set(matched)
        for task_id in matched:
            if include_upstream:
                keep |= self.get_upstream_task_ids(task_id)
            elif include_direct_upstream:
                keep |= self.task_dict[task_id].upstream_task_ids
            if include_downstream:
                keep |= self.get_downstream_task_ids(task_id)
        return self._copy_with(keep)

    def _match_task_ids(self, selector: str | re.Pattern[str] | Iterable[str]) -> list[str]:
        if isinstance(selector, (str, re.Pattern)):
            pattern = re.compile(selector)
            return [tid for tid in self.task_dict if pattern.search(tid)]
        ids = list(selector)
        for task_id in ids:
            self.get_task(task_id)
        return ids

    def _copy_with(self, keep: set[str]) -> DAG:
        subset = copy.copy(self)
        subset.task_dict = {}
        subset.task_group = TaskGroup.create_root(subset)
        for task_id, task in self.task_dict.items():
            if task_id not in keep:
                continue
            clone = copy.copy(task)
            clone._upstream_ids = task.upstream_task_ids & keep
            clone._downstream_ids = task.downstream_task_ids & keep
            clone._dag, clone.task_group = None, None
            subset.add_task(clone)
        return subset


def check_cycle(dag: DAG) -> None:
    """Raise CycleError (Airflow's AirflowDagCycleException) naming the cycle if ``dag`` has one:
    what users' DAG tests call through ``flowctl.utils.dag_cycle_tester``."""
    dag.check_cycle()


def find_cycle(downstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in the graph ``node -> downstream nodes`` (first node repeated last), or None."""
    order = {node: i for i, node in enumerate(downstream)}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in downstream:
        if start in state:
            continue
        path, stack = [start], [iter(_ordered(downstream[start], order))]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(_ordered(downstream[child], order)))
    return None


def _ordered(ids: Iterable[str], order: Mapping[str, int]) -> list[str]:
    return sorted((i for i in ids if i in order), key=order.__getitem__)


def _preset(dag_id: str, name: str, value: str, presets: tuple[str, ...]) -> str:
    if value not in presets:
        raise DagDefinitionError(f"{name} of DAG {dag_id!r} must be one of {', '.join(presets)}, not {value!r}")
    return value


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _make_timetable(schedule: Any, timezone: str) -> Any:
    from flowctl.core.timetables import timetable_from_schedule

    return timetable_from_schedule(schedule, timezone)
