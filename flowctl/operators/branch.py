"""Branching: a task that picks which direct downstream tasks run; the rest are skipped.

Contract with the task runner: ``execute`` calls
``context["ti"].skip_except(task, follow_task_ids)``; the runner's task-instance
object marks as skipped the ids given by :func:`branch_skip_ids` (pure) and the
planner propagates skips through trigger rules. Branch results may name task
ids or task-group ids (a group stands for its root tasks).

Must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.errors import DagDefinitionError, FlowctlError


def normalize_branches(branches: str | Iterable[str] | None) -> list[str]:
    """A branch callable's result as a list of ids (None means follow nothing)."""
    if branches is None:
        return []
    if isinstance(branches, str):
        return [branches]
    result = list(branches)
    if not all(isinstance(b, str) for b in result):
        raise FlowctlError(f"a branch must return task ids (strings), got {result!r}")
    return result


def expand_branch_ids(task: Any, chosen: Iterable[str]) -> list[str]:
    """Replace group ids by their root task ids; error on ids not in the DAG."""
    dag = task.dag
    result: list[str] = []
    for branch in chosen:
        if dag is not None and branch in dag.task_group_dict:
            result.extend(t.task_id for t in dag.task_group_dict[branch].get_roots())
        elif dag is None or dag.has_task(branch):
            result.append(branch)
        else:
            raise DagDefinitionError(f"branch {task.task_id!r} chose {branch!r}, which is not a task in DAG {dag.dag_id!r}")
    return result


def branch_skip_ids(task: Any, follow_task_ids: Iterable[str]) -> set[str]:
    """Direct downstream ids of ``task`` to skip: not followed and not downstream of a followed task."""
    followed = set(follow_task_ids)
    dag = task.dag
    reachable: set[str] = set()
    for task_id in followed:
        if dag is not None and dag.has_task(task_id):
            reachable |= dag.get_downstream_task_ids(task_id)
    return {t for t in task.downstream_task_ids if t not in followed and t not in reachable}


class BranchMixIn:
    """Shared by branch operators: subclasses implement :meth:`choose_branch`."""

    def choose_branch(self, context: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def do_branch(self, context: Mapping[str, Any], branches: str | Iterable[str] | None) -> list[str]:
        """Tell the runner to skip everything but ``branches``; returns the followed ids."""
        chosen = expand_branch_ids(self, normalize_branches(branches))
        context["ti"].skip_except(self, chosen)
        return chosen


class BaseBranchOperator(BranchMixIn, BaseOperator):
    """Subclass and implement ``choose_branch(context)`` returning task id(s) to follow."""

    def execute(self, context: Mapping[str, Any]) -> list[str]:
        return self.do_branch(context, self.choose_branch(context))
