"""The task graph's order and priority weights: as defined, on any shape, and linear on long chains."""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from flowctl.core.errors import CycleError
from flowctl.core.planner import priority_weights, task_graph
from flowctl.core.planner.graph import topological_order


def _reference_order(tasks: dict[str, Any]) -> tuple[str, ...]:
    """The definition: passes over the tasks in definition order, each placing every task whose
    upstream tasks an earlier pass placed."""
    placed: set[str] = set()
    order: list[str] = []
    pending = list(tasks)
    while pending:
        ready = [t for t in pending if tasks[t].upstream <= placed]
        assert ready, "a cycle"
        order.extend(ready)
        placed.update(ready)
        pending = [t for t in pending if t not in placed]
    return tuple(order)


def _reference_weights(tasks: dict[str, Any]) -> dict[str, int]:
    """The definition: a task's own weight plus those of every task below it (downstream rule) or
    above it (upstream rule), each counted once however many paths lead there; absolute: its own."""
    out = {}
    for task_id, spec in tasks.items():
        rule = getattr(spec.weight_rule, "value", spec.weight_rule)
        if rule == "absolute":
            out[task_id] = spec.priority_weight
            continue
        seen: set[str] = set()
        todo = [task_id]
        while todo:
            here = tasks[todo.pop()]
            for nxt in here.downstream if rule == "downstream" else here.upstream:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out[task_id] = spec.priority_weight + sum(tasks[r].priority_weight for r in seen)
    return out


def _random_dag(rng: random.Random, size: int) -> dict[str, Any]:
    """Tasks defined in a shuffled order, edges only from an earlier to a later position of a hidden
    ranking (so no cycle), random weights (zero and negative ones too) and rules."""
    ranking = [f"t{i}" for i in range(size)]
    tasks = []
    for position, task_id in enumerate(ranking):
        above = [u for u in ranking[:position] if rng.random() < 0.25]
        extra: dict[str, Any] = {"priority_weight": rng.choice([1, 1, 1, 2, 5, 0, -3])}
        if rng.random() < 0.3:
            extra["weight_rule"] = rng.choice(["upstream", "absolute", "downstream"])
        tasks.append({"task_id": task_id, "upstream_task_ids": above, **extra})
    rng.shuffle(tasks)
    return {"dag_id": "random", "tasks": tasks}


@pytest.mark.parametrize("seed", range(40))
def test_order_and_weights_match_their_definition_on_random_dags(seed: int) -> None:
    rng = random.Random(seed)
    graph = task_graph(_random_dag(rng, rng.randint(1, 45)))
    assert graph.order == _reference_order(dict(graph.tasks))
    assert graph.weights == _reference_weights(dict(graph.tasks))
    assert priority_weights(graph.tasks) == graph.weights


def test_a_diamond_counts_a_shared_descendant_once() -> None:
    graph = task_graph({"dag_id": "d", "tasks": [
        {"task_id": "a"}, {"task_id": "b", "upstream_task_ids": ["a"]},
        {"task_id": "c", "upstream_task_ids": ["a"], "priority_weight": 3},
        {"task_id": "d", "upstream_task_ids": ["b", "c"], "priority_weight": 10}]})
    assert graph.weights == {"a": 1 + 1 + 3 + 10, "b": 11, "c": 13, "d": 10}
    assert graph.order == ("a", "b", "c", "d")


def test_a_long_chain_is_ordered_and_weighted_end_to_end() -> None:
    # Airflow users have DAGs of thousands of tasks; a chain is the deepest shape there is.
    size = 3000
    tasks = [{"task_id": f"t{i:04d}", "upstream_task_ids": [f"t{i - 1:04d}"] if i else []} for i in range(size)]
    graph = task_graph({"dag_id": "chain", "tasks": list(reversed(tasks))})
    assert graph.order == tuple(f"t{i:04d}" for i in range(size))
    assert graph.weights["t0000"] == size and graph.weights[f"t{size - 1:04d}"] == 1
    assert graph.weights["t1000"] == size - 1000


def test_a_cycle_names_the_tasks_that_cannot_be_placed() -> None:
    graph_tasks = task_graph({"dag_id": "ok", "tasks": [{"task_id": "a"}]}).tasks
    spec = graph_tasks["a"]
    tasks = {"root": replace(spec, task_id="root"),
             "x": replace(spec, task_id="x", upstream=frozenset({"root", "y"})),
             "y": replace(spec, task_id="y", upstream=frozenset({"x"})),
             "after": replace(spec, task_id="after", upstream=frozenset({"y"}))}
    with pytest.raises(CycleError) as raised:
        topological_order(tasks)
    assert str(raised.value) == "cycle among tasks ['after', 'x', 'y']"
