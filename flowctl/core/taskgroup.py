"""Task groups: named, nestable sets of tasks with prefixed ids and group-level ``>>``.

Owns :class:`TaskGroup`, the stack of open ``with TaskGroup(...)`` blocks and the
``@task_group`` decorator (calling the decorated function returns its own value,
or the group when that is None). Every DAG has a root group (``group_id`` None) in
``dag.task_group``; a task's id is prefixed with the ids of the groups it sits
in (``outer.inner.task``) unless a group says ``prefix_group_id=False``.
``group >> other`` links the group's leaves (tasks with no downstream inside
the group) to ``other``'s roots, computed when ``>>`` runs, as in Airflow.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flowctl.core.dependencies import DependencyMixin
from flowctl.core.errors import DagDefinitionError, DuplicateTaskIdError

_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_GROUP_STACK: list[TaskGroup] = []


def validate_key(kind: str, key: str, max_length: int = 250) -> None:
    """Check a dag/task/group id: letters, digits, ``-``, ``_``, ``.``, at most 250 characters."""
    if not isinstance(key, str) or not key:
        raise DagDefinitionError(f"{kind} must be a non-empty string, got {key!r}")
    if len(key) > max_length:
        raise DagDefinitionError(f"{kind} {key!r} is longer than {max_length} characters")
    if not _KEY_RE.match(key):
        raise DagDefinitionError(
            f"{kind} {key!r} may contain only letters, digits, '-', '_' and '.'"
        )


class TaskGroup(DependencyMixin):
    """A group of tasks (and nested groups) shown and linked as one unit."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: Any = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
    ) -> None:
        self.prefix_group_id = prefix_group_id
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.children: dict[str, Any] = {}
        if group_id is None:
            self._init_root(dag)
            return
        validate_key("group_id", group_id, 200)
        self._label = group_id
        dag = dag or (parent_group.dag if parent_group else None) or _current_dag()
        if dag is None:
            raise DagDefinitionError(f"TaskGroup {group_id!r} must be created inside a DAG")
        self.dag = dag
        self.parent_group: TaskGroup | None = parent_group or current_group(dag)
        if add_suffix_on_collision:
            self._label = _unique_label(dag, self.parent_group, group_id)
        self.parent_group.add(self)

    def _init_root(self, dag: Any) -> None:
        self._label = None
        self.dag = dag
        self.parent_group = None

    @classmethod
    def create_root(cls, dag: Any) -> TaskGroup:
        """The root group of ``dag``."""
        return cls(None, dag=dag)

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"

    @property
    def group_id(self) -> str | None:
        """The full, prefixed id (None for the root group)."""
        if self._label is None or self.parent_group is None:
            return self._label
        return self.parent_group.child_id(self._label)

    @property
    def node_id(self) -> str | None:
        return self.group_id

    @property
    def label(self) -> str | None:
        """The id as written, without parent prefixes."""
        return self._label

    @property
    def is_root(self) -> bool:
        return self._label is None

    def child_id(self, label: str) -> str:
        """The id a child called ``label`` gets inside this group."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, node: Any) -> None:
        """Register a task or a nested group as a child."""
        key = node.group_id if isinstance(node, TaskGroup) else node.task_id
        if isinstance(node, TaskGroup):
            used = self.dag.task_group_dict if self.dag is not None else {}
            if key in used or (self.dag is not None and self.dag.has_task(key)):
                raise DuplicateTaskIdError(f"group_id {key!r} is already used in DAG {self.dag.dag_id!r}")
        elif key in self.children:
            raise DuplicateTaskIdError(f"task_id {key!r} is already in task group {self.group_id!r}")
        self.children[key] = node

    def iter_tasks(self) -> Iterator[Any]:
        """Every task in this group and its nested groups, in insertion order."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_tasks()
            else:
                yield child

    def iter_groups(self) -> Iterator[TaskGroup]:
        """This group and every nested group, depth first."""
        yield self
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_groups()

    def get_roots(self) -> list[Any]:
        """Tasks of this group with no upstream task inside the group."""
        ids = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not (t.upstream_task_ids & ids)]

    def get_leaves(self) -> list[Any]:
        """Tasks of this group with no downstream task inside the group; a teardown gives way
        to the work before it, as in Airflow (flowctl.core.setup_teardown.group_leaves)."""
        from flowctl.core.setup_teardown import group_leaves

        return group_leaves(list(self.iter_tasks()))

    @property
    def roots(self) -> list[Any]:
        return self.get_roots()

    @property
    def leaves(self) -> list[Any]:
        return self.get_leaves()

    def edge_roots(self) -> list[Any]:
        return self.get_roots()

    def edge_leaves(self) -> list[Any]:
        return self.get_leaves()

    def ancestry(self) -> list[TaskGroup]:
        """Groups from the root down to this one."""
        chain: list[TaskGroup] = []
        group: TaskGroup | None = self
        while group is not None:
            chain.append(group)
            group = group.parent_group
        return list(reversed(chain))

    def expand(self, **mapped: Any) -> Any:
        """Refused, as in Airflow: only ``@task_group`` functions can be mapped."""
        raise _classic_group_not_mappable(self, "expand")

    def expand_kwargs(self, kwargs_list: Any) -> Any:
        """Refused, as in Airflow: only ``@task_group`` functions can be mapped."""
        raise _classic_group_not_mappable(self, "expand_kwargs")

    def __enter__(self) -> TaskGroup:
        _GROUP_STACK.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _GROUP_STACK.remove(self)


def _classic_group_not_mappable(group: TaskGroup, method: str) -> Exception:
    from flowctl.core.errors import NotSupportedError

    return NotSupportedError(
        f"TaskGroup {group.group_id!r}.{method}(): a TaskGroup object cannot be mapped (nor in Airflow); "
        f"write the group as a @task_group function and call .{method}(...) on it")


def current_group(dag: Any) -> TaskGroup | None:
    """The innermost open ``with TaskGroup`` block of ``dag``, else its root group."""
    for group in reversed(_GROUP_STACK):
        if dag is None or group.dag is dag:
            return group
    return dag.task_group if dag is not None else None


def _current_dag() -> Any:
    from flowctl.core.dag import DagContext  # dag.py imports this module

    return DagContext.current()


def _unique_label(dag: Any, parent: TaskGroup, label: str) -> str:
    used = set(dag.task_group_dict) | set(dag.task_dict)
    candidate, n = label, 0
    while parent.child_id(candidate) in used:
        n += 1
        candidate = f"{label}__{n}"
    return candidate


class TaskGroupFactory:
    """What ``@task_group`` returns: calling it builds a TaskGroup and runs the function inside;
    ``.partial(...)``, ``.expand(...)`` and ``.expand_kwargs(...)`` build a mapped one
    (:mod:`flowctl.core.mapped_group`)."""

    def __init__(self, function: Callable[..., Any], group_kwargs: dict[str, Any],
                 partial_kwargs: dict[str, Any] | None = None) -> None:
        self.function = function
        self.group_kwargs = group_kwargs
        self.partial_kwargs = dict(partial_kwargs or {})
        functools.update_wrapper(self, function)

    def override(self, **group_kwargs: Any) -> TaskGroupFactory:
        """A copy with some TaskGroup arguments replaced."""
        return TaskGroupFactory(self.function, {**self.group_kwargs, **group_kwargs}, self.partial_kwargs)

    def _group_kwargs(self) -> dict[str, Any]:
        group_kwargs = dict(self.group_kwargs)
        group_kwargs.setdefault("group_id", self.function.__name__)
        group_kwargs.setdefault("tooltip", (self.function.__doc__ or "").strip())
        group_kwargs.setdefault("add_suffix_on_collision", True)
        return group_kwargs

    def partial(self, **fixed: Any) -> TaskGroupFactory:
        """Fix some of the function's arguments for every map index; map the rest with ``expand``."""
        from flowctl.core.mapped_group import check_names

        group_id = self._group_kwargs()["group_id"]
        check_names(self.function, group_id, "partial()", list(fixed))
        again = sorted(set(fixed) & set(self.partial_kwargs))
        if again:
            raise DagDefinitionError(f"task group {group_id!r}: partial() got {', '.join(again)} twice")
        return TaskGroupFactory(self.function, self.group_kwargs, {**self.partial_kwargs, **fixed})

    def expand(self, **mapped: Any) -> Any:
        """A mapped group: its tasks run once per element (the cartesian product over several arguments)."""
        from flowctl.core.mapped_group import check_expand

        check_expand(self.function, self._group_kwargs()["group_id"], self.partial_kwargs, mapped)
        return self._build_mapped(dict(mapped), "expand", list(mapped))

    def expand_kwargs(self, kwargs_list: Any) -> Any:
        """A mapped group: its tasks run once per kwargs dict of ``kwargs_list`` (a list or an XComArg)."""
        from flowctl.core.mapped_group import check_expand_kwargs

        check_expand_kwargs(self.function, self._group_kwargs()["group_id"], kwargs_list)
        return self._build_mapped(kwargs_list, "expand_kwargs", None)

    def _build_mapped(self, expand_input: Any, kind: str, names: list[str] | None) -> Any:
        from flowctl.core.mapped_group import MappedTaskGroup, mapped_arguments

        with MappedTaskGroup(expand_input=expand_input, expand_kind=kind, **self._group_kwargs()) as group:
            arguments = mapped_arguments(self.function, group, names, self.partial_kwargs)
            value = self.function(**self.partial_kwargs, **arguments)
        return group if value is None else value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Build the group; return the function's value (the XComArg of its last task, say)
        when it is not None, else the group, as Airflow 2 does."""
        with TaskGroup(**self._group_kwargs()) as group:
            value = self.function(*args, **kwargs)
        return group if value is None else value


def task_group(python_callable: Any = None, **group_kwargs: Any) -> Any:
    """Decorator: ``@task_group`` or ``@task_group(group_id=..., ...)``."""
    if isinstance(python_callable, str):
        group_kwargs["group_id"] = python_callable
        python_callable = None
    if callable(python_callable):
        return TaskGroupFactory(python_callable, group_kwargs)
    return lambda function: TaskGroupFactory(function, group_kwargs)


def serialized_group_task_ids(tree: Mapping[str, Any], group_id: str) -> list[str] | None:
    """The task ids under task group ``group_id`` of a serialized task-group tree (a serialized
    DAG's ``task_group``; nested groups included), or None if there is no such group."""
    if tree.get("group_id") == group_id:
        return _serialized_tasks_under(tree)
    for child in tree.get("children", ()):
        if isinstance(child, Mapping):
            found = serialized_group_task_ids(child, group_id)
            if found is not None:
                return found
    return None


def _serialized_tasks_under(tree: Mapping[str, Any]) -> list[str]:
    tasks: list[str] = []
    for child in tree.get("children", ()):
        tasks.extend(_serialized_tasks_under(child) if isinstance(child, Mapping) else [str(child)])
    return tasks
