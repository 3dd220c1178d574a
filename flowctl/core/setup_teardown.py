"""Setup and teardown tasks (Airflow 2.7): marking tasks, ``with`` scopes, group leaves, decorators.

A *setup* task makes a resource, a *teardown* task removes it. ``task.as_setup()``
marks a task; ``task.as_teardown(setups=..., on_failure_fail_dagrun=...)`` marks a
teardown, gives it the trigger rule ``all_done_setup_success`` (it runs once its
upstream tasks are done, whatever their outcome, if one of its setups succeeded)
and makes each setup upstream of it. ``with teardown.as_teardown(setups=s):``
(or ``with s.as_setup():``) puts the tasks made inside the block between the
setups and the teardowns. A task group's leaves skip teardowns, so ``group >>
other`` links the work, not the clean-up. ``@setup`` / ``@teardown`` wrap a
``@task`` function (:class:`RoleDecorator`). The planner reads the marks from
the serialized DAG; a run's state ignores teardowns (``TaskGraph.leaves``).

Pure: must not import anything outside flowctl.core and the standard library
(task groups are imported when a mark is refused).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowctl.core.errors import DagDefinitionError
from flowctl.core.trigger_rules import TriggerRule

#: Open ``with`` scopes: (setup or teardown node, the DAG, the task ids it had when the block opened).
_SCOPES: list[tuple[Any, Any, frozenset[str]]] = []


def operators_of(node: Any, what: str) -> list[Any]:
    """The operators a mark applies to: the task itself, or the task(s) behind an XComArg."""
    from flowctl.core.taskgroup import TaskGroup

    if isinstance(node, TaskGroup):
        raise DagDefinitionError(f"a task group cannot be marked as a {what}: mark the tasks inside it")
    return list(node.edge_roots())


def _as_list(nodes: Any) -> list[Any]:
    if nodes is None:
        return []
    if isinstance(nodes, Iterable) and not isinstance(nodes, (str, bytes)) and not hasattr(nodes, "edge_roots"):
        return list(nodes)
    return [nodes]


def mark_setup(node: Any) -> Any:
    """``node.as_setup()``: mark its task(s) as setup tasks; returns ``node``."""
    for operator in operators_of(node, "setup"):
        if getattr(operator, "is_teardown", False):
            raise DagDefinitionError(f"task {operator.task_id!r} is a teardown; it cannot also be a setup")
        operator.is_setup = True
    return node


def mark_teardown(node: Any, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> Any:
    """``node.as_teardown(...)``: mark its task(s) as teardowns of ``setups``; returns ``node``."""
    operators = operators_of(node, "teardown")
    for operator in operators:
        if getattr(operator, "is_setup", False):
            raise DagDefinitionError(f"task {operator.task_id!r} is a setup; it cannot also be a teardown")
        operator.is_teardown = True
        operator.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            operator.on_failure_fail_dagrun = bool(on_failure_fail_dagrun)
    for setup in _as_list(setups):
        mark_setup(setup)
        for operator in operators:
            setup.set_downstream(operator)
    return node


# --- ``with teardown.as_teardown(setups=...):`` -------------------------------------------------

def enter_scope(node: Any) -> None:
    """Open a setup/teardown scope: the tasks made until :func:`exit_scope` sit inside it."""
    operators = operators_of(node, "setup or teardown scope")
    if not all(getattr(o, "is_setup", False) or getattr(o, "is_teardown", False) for o in operators):
        raise DagDefinitionError("only setup or teardown tasks can be used as context managers "
                                 "(call .as_setup() or .as_teardown() first)")
    dag = next((o.dag for o in operators if o.has_dag()), None)
    if dag is None:
        raise DagDefinitionError("a setup or teardown scope needs its task in a DAG")
    _SCOPES.append((node, dag, frozenset(dag.task_dict)))


def exit_scope(node: Any) -> None:
    """Close the scope ``node`` opened: its setups upstream of the block's roots, its teardowns
    downstream of the block's leaves."""
    index = max(i for i, scope in enumerate(_SCOPES) if scope[0] is node)
    _, dag, before = _SCOPES.pop(index)
    inside = [t for t in dag.tasks if t.task_id not in before]
    if not inside:
        return
    ids = {t.task_id for t in inside}
    roots = [t for t in inside if not (t.upstream_task_ids & ids)]
    leaves = [t for t in inside if not (t.downstream_task_ids & ids)]
    setups, teardowns = _scope_roles(operators_of(node, "scope"), dag)
    for setup in setups:
        setup.set_downstream([r for r in roots if r is not setup])
    for teardown in teardowns:
        teardown.set_upstream([leaf for leaf in leaves if leaf is not teardown])


def _scope_roles(operators: list[Any], dag: Any) -> tuple[list[Any], list[Any]]:
    """The setups and teardowns of a scope's task(s): a teardown brings its upstream setups,
    a setup its downstream teardowns."""
    setups: dict[str, Any] = {}
    teardowns: dict[str, Any] = {}
    for operator in operators:
        if operator.is_teardown:
            teardowns[operator.task_id] = operator
            setups.update((t, dag.task_dict[t]) for t in sorted(operator.upstream_task_ids)
                          if dag.task_dict[t].is_setup)
        else:
            setups[operator.task_id] = operator
            teardowns.update((t, dag.task_dict[t]) for t in sorted(operator.downstream_task_ids)
                             if dag.task_dict[t].is_teardown)
    return list(setups.values()), list(teardowns.values())


# --- task groups ------------------------------------------------------------------------------

def group_leaves(tasks: list[Any]) -> list[Any]:
    """A task group's leaves, teardowns left out as Airflow leaves them out: a teardown at the end
    gives way to the tasks before it that nothing else in the group (but teardowns) follows."""
    by_id = {t.task_id: t for t in tasks}
    leaves: dict[str, Any] = {}
    for task in tasks:
        if task.downstream_task_ids & by_id.keys():
            continue
        if getattr(task, "is_teardown", False):
            leaves.update((t.task_id, t) for t in _work_before(task, by_id))
        else:
            leaves[task.task_id] = task
    return list(leaves.values())


def _work_before(teardown: Any, by_id: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for up_id in sorted(teardown.upstream_task_ids & by_id.keys()):
        up = by_id[up_id]
        if getattr(up, "is_teardown", False):
            found.extend(_work_before(up, by_id))
        elif getattr(up, "is_setup", False):
            continue  # the setup-to-teardown edge is not the work's end
        elif not any(not getattr(by_id[d], "is_teardown", False)
                     for d in up.downstream_task_ids & by_id.keys() if d != teardown.task_id):
            found.append(up)
    return found


# --- ``@setup`` / ``@teardown`` ---------------------------------------------------------------

class RoleDecorator:
    """A ``@task`` function marked ``@setup`` or ``@teardown``: calling it makes the task and marks it."""

    def __init__(self, decorator: Any, role: str, on_failure_fail_dagrun: bool = False) -> None:
        from flowctl.core.taskgroup import TaskGroupFactory

        if isinstance(decorator, TaskGroupFactory):
            raise DagDefinitionError("task groups cannot be marked as setup or teardown")
        if role == "teardown" and "trigger_rule" in getattr(decorator, "kwargs", {}):
            raise DagDefinitionError("the trigger rule of a teardown task is not configurable "
                                     "(it is all_done_setup_success)")
        self.decorator, self.role, self.on_failure_fail_dagrun = decorator, role, on_failure_fail_dagrun

    def __repr__(self) -> str:
        return f"<{self.role} {self.decorator!r}>"

    def _mark(self, made: Any) -> Any:
        if self.role == "setup":
            return mark_setup(made)
        return mark_teardown(made, on_failure_fail_dagrun=self.on_failure_fail_dagrun)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._mark(self.decorator(*args, **kwargs))

    def override(self, **kwargs: Any) -> RoleDecorator:
        """A copy with some operator arguments replaced."""
        return RoleDecorator(self.decorator.override(**kwargs), self.role, self.on_failure_fail_dagrun)

    def expand(self, **mapped: Any) -> Any:
        """The mapped task, marked."""
        return self._mark(self.decorator.expand(**mapped))

    def expand_kwargs(self, kwargs_list: Any) -> Any:
        """The mapped task (one instance per kwargs dict), marked."""
        return self._mark(self.decorator.expand_kwargs(kwargs_list))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.decorator, name)


def check_setups(dag: Any) -> None:
    """Airflow's rule, at parse time: a setup's downstream tasks other than teardowns keep the
    trigger rule all_success (so clearing a task that needs the setup behaves the same)."""
    for task in dag.tasks:
        if not getattr(task, "is_setup", False):
            continue
        for down in task.downstream_list:
            if not getattr(down, "is_teardown", False) and down.trigger_rule is not TriggerRule.ALL_SUCCESS:
                raise DagDefinitionError(
                    f"task {down.task_id!r} follows setup task {task.task_id!r}, so its trigger rule must be "
                    f"all_success (it is {down.trigger_rule.value}): setup tasks must be followed with trigger "
                    "rule all_success, as in Airflow")
