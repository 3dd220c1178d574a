"""Priority weight rules: how a task's effective priority is computed from the DAG.

``downstream`` (the default): own weight plus the weights of every task
downstream of it (transitively), so tasks that unblock more work go first;
``upstream``: own weight plus every upstream task's; ``absolute``: own weight.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from enum import Enum
from typing import Any

from flowctl.core.errors import DagDefinitionError


class WeightRule(str, Enum):
    """The Airflow weight rules."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def all_weight_rules(cls) -> set[str]:
        return {rule.value for rule in cls}


def parse_weight_rule(value: str | WeightRule) -> WeightRule:
    """The rule named by ``value``; a clear error for unknown names."""
    try:
        return WeightRule(value)
    except ValueError:
        allowed = ", ".join(sorted(WeightRule.all_weight_rules()))
        raise DagDefinitionError(f"weight_rule {value!r} is not one of: {allowed}") from None


def priority_weight_total(task: Any) -> int:
    """``task``'s effective priority under its weight rule (needs ``task.dag`` for relatives)."""
    rule = parse_weight_rule(task.weight_rule)
    dag = task.dag
    if rule is WeightRule.ABSOLUTE or dag is None:
        return int(task.priority_weight)
    if rule is WeightRule.DOWNSTREAM:
        relatives = dag.get_downstream_task_ids(task.task_id)
    else:
        relatives = dag.get_upstream_task_ids(task.task_id)
    return int(task.priority_weight) + sum(int(dag.get_task(t).priority_weight) for t in relatives)
