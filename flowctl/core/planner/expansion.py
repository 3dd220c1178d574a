"""How many task instances a mapped task expands to, from its serialized mapping spec.

A mapping spec (``{"expand": ..., "expand_kind": "expand" | "expand_kwargs"}``)
holds literal lists/dicts and XComArg references
``{"__type": "xcomarg", "__var": {"task_id", "key"}}``. ``xcom_refs`` lists the
references the scheduler must read; ``input_final`` says when a referenced
task's XCom is final; ``map_length`` multiplies the lengths (cartesian product
for ``expand``). Pure: must not import outside flowctl.core.
"""
from __future__ import annotations

from collections.abc import Mapping, Sized
from typing import TYPE_CHECKING, Any

from flowctl.core.states import TI_FINISHED

if TYPE_CHECKING:
    from flowctl.core.planner.graph import TaskGraph

XComRef = tuple[str, str]  # (task_id, key)


def _ref(value: Any) -> XComRef | None:
    if isinstance(value, Mapping) and value.get("__type") == "xcomarg":
        var = value.get("__var") or {}
        return str(var.get("task_id")), str(var.get("key") or "return_value")
    return None


def _inputs(spec: Mapping[str, Any]) -> list[Any]:
    expand = spec.get("expand")
    if spec.get("expand_kind") == "expand_kwargs" or not isinstance(expand, Mapping) or _ref(expand):
        return [expand]
    return list(expand.values())


def xcom_refs(spec: Mapping[str, Any] | None) -> list[XComRef]:
    """The XCom values a mapped task's length depends on."""
    if not spec:
        return []
    return [ref for ref in (_ref(v) for v in _inputs(spec)) if ref is not None]


_FINISHED = frozenset(state.value for state in TI_FINISHED)


def input_final(graph: TaskGraph, states: Mapping[tuple[str, int], str], task_id: str) -> bool:
    """Whether what ``task_id`` pushed is final, so a mapped task reading it can expand: the task
    (every map index of a mapped one) finished. The values its successful instances pushed are then
    the input (a None return, a failed or skipped instance push nothing), as in Airflow; the
    downstream task's trigger rule decides whether it runs at all, and one that may run after a
    failed upstream (all_done) expands to nothing instead of waiting for a list that never comes."""
    found = [state for (t, _), state in states.items() if t == task_id]
    return bool(found) and all(str(state) in _FINISHED for state in found)


def _length(value: Any, xcoms: Mapping[XComRef, Any]) -> int:
    ref = _ref(value)
    if ref is not None:
        value = xcoms.get(ref)
    if value is None:
        return 0
    if isinstance(value, Mapping) and value.get("__type") and "__var" in value:
        value = value["__var"]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sized):
        raise ValueError(f"cannot map over a value of type {type(value).__name__}; expected a list or dict")
    return len(value)


def map_length(spec: Mapping[str, Any] | None, xcoms: Mapping[XComRef, Any]) -> int:
    """How many instances the mapping makes, given the XCom values of its references."""
    if not spec:
        return 0
    total = 1
    for value in _inputs(spec):
        total *= _length(value, xcoms)
    return total
