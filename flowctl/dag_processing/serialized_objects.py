"""Read-only DAG, task and task-group objects rebuilt from serialized JSON.

They answer the same questions as the authoring objects (Airflow attribute
names: ``dag.task_dict``, ``get_task``, ``topological_sort``, ``roots``,
``task.upstream_list``, ``task.trigger_rule`` ...) but hold no user code:
``SerializedOperator.execute`` raises. The scheduler and the UI use these.
Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flowctl.core.errors import CycleError, TaskNotFound
from flowctl.dag_processing.jsonvalues import datetime_of, decode_value, timedelta_of


def params_from_json(data: dict[str, Any]) -> Any:
    """A ParamsDict (``flowctl.core.params``) rebuilt from serialized params."""
    from flowctl.core.params import NOTSET, Param, ParamsDict

    params = ParamsDict()
    for name, item in data.items():
        value = decode_value(item["value"]) if item.get("has_value", True) else NOTSET
        params[name] = Param(value, item.get("description"), **dict(item.get("schema") or {}))
    return params


class SerializedOperator:
    """A task as the scheduler sees it; attributes mirror BaseOperator's."""

    def __init__(self, data: dict[str, Any], dag: SerializedDAG) -> None:
        self.data = data
        self.dag = dag
        self.task_id: str = data["task_id"]
        self.task_type: str = data["task_type"]
        self.operator_module: str = data["operator_module"]
        self.upstream_task_ids: set[str] = set(data["upstream_task_ids"])
        self.downstream_task_ids: set[str] = set(data["downstream_task_ids"])
        self.template_fields: tuple[str, ...] = tuple(data["template_fields"])
        self.template_ext: tuple[str, ...] = tuple(data["template_ext"])
        self.is_mapped: bool = data["is_mapped"]
        self.is_setup: bool = bool(data.get("is_setup"))
        self.is_teardown: bool = bool(data.get("is_teardown"))
        self.on_failure_fail_dagrun: bool = bool(data.get("on_failure_fail_dagrun"))
        self.params = params_from_json(data.get("params") or {})

    def __getattr__(self, name: str) -> Any:
        # Plain attributes (retries, pool, queue, owner...) are read from the JSON.
        data = self.__dict__.get("data")
        if data is None or name not in data:
            raise AttributeError(name)
        value = data[name]
        if name in {"retry_delay", "max_retry_delay", "execution_timeout", "sla", "poke_interval", "timeout"}:
            return timedelta_of(value)
        return decode_value(value)

    def __repr__(self) -> str:
        return f"<SerializedOperator({self.task_type}): {self.task_id}>"

    @property
    def dag_id(self) -> str:
        return self.dag.dag_id

    @property
    def operator_name(self) -> str:
        return self.task_type

    @property
    def task_group(self) -> SerializedTaskGroup:
        return self.dag.task_group_dict.get(self.data.get("task_group_id"), self.dag.task_group)

    @property
    def upstream_list(self) -> list[SerializedOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[SerializedOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    @property
    def has_on_failure_callback(self) -> bool:
        return bool(self.data["callbacks"].get("on_failure_callback"))

    @property
    def has_on_success_callback(self) -> bool:
        return bool(self.data["callbacks"].get("on_success_callback"))

    @property
    def has_on_retry_callback(self) -> bool:
        return bool(self.data["callbacks"].get("on_retry_callback"))

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        """Airflow's name: upstream or downstream ids."""
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    def execute(self, context: Any) -> Any:
        """Serialized tasks hold no user code; the task runner parses the DAG file instead."""
        raise NotImplementedError(
            f"task {self.task_id!r} was deserialized from JSON and cannot run; "
            "the task runner imports the DAG file to run it")


class SerializedTaskGroup:
    """A node of the task-group tree; ``children`` maps ids to tasks and nested groups."""

    def __init__(self, data: dict[str, Any], dag: SerializedDAG, parent: SerializedTaskGroup | None) -> None:
        self.group_id: str | None = data["group_id"]
        self.tooltip: str = data.get("tooltip") or ""
        self.prefix_group_id: bool = data.get("prefix_group_id", True)
        self.ui_color: str | None = data.get("ui_color")
        self.ui_fgcolor: str | None = data.get("ui_fgcolor")
        self.parent_group = parent
        self.dag = dag
        self.children: dict[str, Any] = {}
        dag.task_group_dict[self.group_id] = self
        for child in data["children"]:
            if isinstance(child, dict):
                self.children[child["group_id"]] = SerializedTaskGroup(child, dag, self)
            else:
                self.children[child] = dag.task_dict[child]

    def __repr__(self) -> str:
        return f"<SerializedTaskGroup: {self.group_id}>"

    @property
    def is_root(self) -> bool:
        return self.group_id is None

    @property
    def label(self) -> str | None:
        if self.group_id is None or self.parent_group is None or self.parent_group.group_id is None:
            return self.group_id
        prefix = self.parent_group.group_id + "."
        return self.group_id[len(prefix):] if self.group_id.startswith(prefix) else self.group_id

    def iter_tasks(self) -> list[SerializedOperator]:
        """Every task in this group and nested groups."""
        out: list[SerializedOperator] = []
        for child in self.children.values():
            out.extend(child.iter_tasks() if isinstance(child, SerializedTaskGroup) else [child])
        return out

    def get_task_group_dict(self) -> dict[str | None, SerializedTaskGroup]:
        """Every group of the DAG by id (the root under None)."""
        return dict(self.dag.task_group_dict)


class SerializedDAG:
    """A DAG rebuilt from JSON: readable like a DAG, without the user's code."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.dag_id: str = data["dag_id"]
        self.fileloc: str = data.get("fileloc") or ""
        self.description: str | None = data.get("description")
        self.doc_md: str | None = data.get("doc_md")
        self.owner: str = data.get("owner") or ""
        self.tags: list[str] = list(data.get("tags") or [])
        self.catchup: bool = bool(data.get("catchup"))
        self.max_active_runs: int | None = data.get("max_active_runs")
        self.max_active_tasks: int | None = data.get("max_active_tasks")
        self.is_paused_upon_creation: bool | None = data.get("is_paused_upon_creation")
        self.start_date: datetime | None = datetime_of(data.get("start_date"))
        self.end_date: datetime | None = datetime_of(data.get("end_date"))
        self.dagrun_timeout: timedelta | None = timedelta_of(data.get("dagrun_timeout"))
        self.default_args: dict[str, Any] = decode_value(data.get("default_args") or {})
        self.access_control: Any = decode_value(data.get("access_control"))
        self.params = params_from_json(data.get("params") or {})
        self.timetable = _timetable(data.get("timetable"))
        #: The DAG's zone (its naive dates and its cron schedule's), as ``DAG.timezone``.
        self.timezone: str = data.get("timezone") or "UTC"
        self.task_dict: dict[str, SerializedOperator] = {
            t["task_id"]: SerializedOperator(t, self) for t in data["tasks"]}
        self.task_group_dict: dict[str | None, SerializedTaskGroup] = {}
        self.task_group = SerializedTaskGroup(data["task_group"], self, None)

    def __repr__(self) -> str:
        return f"<SerializedDAG: {self.dag_id}>"

    @property
    def tasks(self) -> list[SerializedOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def task_count(self) -> int:
        return len(self.task_dict)

    @property
    def timetable_summary(self) -> str | None:
        return self.data.get("timetable_summary")

    @property
    def schedule_interval(self) -> str | None:
        """Airflow 2's older name; here the timetable summary."""
        return self.timetable_summary

    @property
    def roots(self) -> list[SerializedOperator]:
        return [t for t in self.tasks if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[SerializedOperator]:
        return [t for t in self.tasks if not t.downstream_task_ids]

    @property
    def has_on_success_callback(self) -> bool:
        return bool(self.data["callbacks"].get("on_success_callback"))

    @property
    def has_on_failure_callback(self) -> bool:
        return bool(self.data["callbacks"].get("on_failure_callback"))

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> SerializedOperator:
        """The task with this id; TaskNotFound names it otherwise."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFound(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    def topological_sort(self) -> list[SerializedOperator]:
        """Tasks with every task after its upstream tasks (ties in definition order)."""
        placed: set[str] = set()
        order: list[SerializedOperator] = []
        pending = self.tasks
        while pending:
            ready = [t for t in pending if t.upstream_task_ids <= placed]
            if not ready:
                raise CycleError(f"DAG {self.dag_id!r} has a cycle among {sorted(t.task_id for t in pending)}")
            order.extend(ready)
            placed.update(t.task_id for t in ready)
            pending = [t for t in pending if t.task_id not in placed]
        return order


def _timetable(data: dict[str, Any] | None) -> Any:
    from flowctl.core.timetables import NullTimetable, timetable_from_dict

    return timetable_from_dict(data) if data else NullTimetable()
