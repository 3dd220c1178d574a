"""Text pictures of a serialized DAG: an indented task tree and Graphviz DOT.

Pure functions of the JSON that :mod:`~flowctl.dag_processing.serialization`
produces, so they never need user code. Used by ``flowctl dags show``.
Standard library only; must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import json
from typing import Any


def topological_task_ids(data: dict[str, Any]) -> list[str]:
    """Task ids so that every task comes after its upstream tasks (ties in definition order)."""
    order = [t["task_id"] for t in data["tasks"]]
    upstream = {t["task_id"]: set(t["upstream_task_ids"]) for t in data["tasks"]}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(order):
        ready = [tid for tid in order if tid not in placed and upstream[tid] <= placed]
        if not ready:  # a cycle: list what is left rather than loop forever
            ready = [tid for tid in order if tid not in placed]
        for tid in ready:
            done.append(tid)
            placed.add(tid)
    return done


def _group_children(group: dict[str, Any], rank: dict[str, int]) -> list[tuple[int, str, Any]]:
    """A group's children as (first topological rank, kind, item), sorted by rank."""
    items: list[tuple[int, str, Any]] = []
    for child in group.get("children", []):
        if isinstance(child, dict):
            ranks = [rank[t] for t in _tasks_in_group(child) if t in rank]
            items.append((min(ranks, default=len(rank)), "group", child))
        else:
            items.append((rank.get(child, len(rank)), "task", child))
    return sorted(items, key=lambda item: item[0])


def _tasks_in_group(group: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for child in group.get("children", []):
        out.extend(_tasks_in_group(child) if isinstance(child, dict) else [child])
    return out


def tree_text(data: dict[str, Any]) -> str:
    """The DAG as an indented tree: groups, then tasks in topological order with their upstream."""
    tasks = {t["task_id"]: t for t in data["tasks"]}
    rank = {tid: i for i, tid in enumerate(topological_task_ids(data))}
    lines = [f"{data['dag_id']}  (schedule: {data.get('timetable_summary') or 'None'})"]
    _tree_lines(data["task_group"], tasks, rank, "", lines)
    return "\n".join(lines)


def _tree_lines(group: dict[str, Any], tasks: dict[str, Any], rank: dict[str, int], indent: str,
                lines: list[str]) -> None:
    children = _group_children(group, rank)
    for index, (_, kind, item) in enumerate(children):
        last = index == len(children) - 1
        branch, deeper = ("└── ", "    ") if last else ("├── ", "│   ")
        if kind == "group":
            lines.append(f"{indent}{branch}[{item['group_id']}]")
            _tree_lines(item, tasks, rank, indent + deeper, lines)
            continue
        task = tasks[item]
        after = ", ".join(sorted(task["upstream_task_ids"]))
        suffix = f"  <- {after}" if after else ""
        mapped = " (mapped)" if task.get("is_mapped") else ""
        lines.append(f"{indent}{branch}{item} ({task['task_type']}){mapped}{suffix}")


def dot_text(data: dict[str, Any]) -> str:
    """The DAG in Graphviz DOT: one cluster per task group, one edge per dependency."""
    lines = [f"digraph {json.dumps(data['dag_id'])} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f0f0f0"];']
    tasks = {t["task_id"]: t for t in data["tasks"]}
    _dot_group(data["task_group"], tasks, "  ", lines)
    for task in data["tasks"]:
        for down in sorted(task["downstream_task_ids"]):
            lines.append(f"  {json.dumps(task['task_id'])} -> {json.dumps(down)};")
    lines.append("}")
    return "\n".join(lines)


def _dot_group(group: dict[str, Any], tasks: dict[str, Any], indent: str, lines: list[str]) -> None:
    for child in group.get("children", []):
        if isinstance(child, dict):
            name = json.dumps("cluster_" + child["group_id"])
            lines.append(f"{indent}subgraph {name} {{")
            lines.append(f"{indent}  label={json.dumps(child['group_id'])};")
            _dot_group(child, tasks, indent + "  ", lines)
            lines.append(f"{indent}}}")
        else:
            color = tasks[child].get("ui_color") or "#f0f0f0"
            lines.append(f"{indent}{json.dumps(child)} [fillcolor={json.dumps(color)}];")
