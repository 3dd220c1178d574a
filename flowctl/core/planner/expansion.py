"""How many task instances a mapped task expands to, from its serialized mapping spec.

A mapping spec (``{"expand": ..., "expand_kind": "expand" | "expand_kwargs"}``)
holds literal lists/dicts and XComArg references: a plain one
``{"__type": "xcomarg", "__var": {"task_id", "key"}}``, or one of Airflow's
derived forms, which nest them: ``xcomarg_map`` (``{"arg", "callables"}``: as
long as its arg; the callables are names, never called here), ``xcomarg_zip``
(``{"args"}``: the shortest arg, the longest when ``"fillvalue"`` is present)
and ``xcomarg_concat`` (``{"args"}``: the sum). ``xcom_refs`` lists the plain
references the scheduler must read; ``input_final`` says when a referenced
task's XCom is final; ``map_length`` multiplies the lengths (cartesian product
for ``expand``), and raises ``MapInputMissing`` when an unmapped task it reads
finished without pushing (the mapped task then ends upstream_failed, as in
Airflow; a list that came empty skips it). Pure: must not import outside flowctl.core.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from typing import TYPE_CHECKING, Any

from flowctl.core.errors import MapInputMissing
from flowctl.core.states import TI_FINISHED
from flowctl.core.xcom_arg import ConcatXComArg, MapXComArg, PlainXComArg, ZipXComArg
from flowctl.core.xcom_values import stored_items

if TYPE_CHECKING:
    from flowctl.core.planner.graph import TaskGraph

XComRef = tuple[str, str]  # (task_id, key)
_PLAIN, _MAP, _ZIP, _CONCAT = (PlainXComArg.ref_type, MapXComArg.ref_type, ZipXComArg.ref_type,
                               ConcatXComArg.ref_type)
_XCOM_TYPES = frozenset({_PLAIN, _MAP, _ZIP, _CONCAT})


def _xcom_arg(value: Any) -> tuple[str, Mapping[str, Any]] | None:
    """(form, its "__var") of a serialized XComArg; None for a literal value."""
    if isinstance(value, Mapping) and value.get("__type") in _XCOM_TYPES:
        return str(value["__type"]), value.get("__var") or {}
    return None


def _plain_ref(var: Mapping[str, Any]) -> XComRef:
    return str(var.get("task_id")), str(var.get("key") or "return_value")


def _inputs(spec: Mapping[str, Any]) -> list[Any]:
    expand = spec.get("expand")
    if spec.get("expand_kind") == "expand_kwargs" or not isinstance(expand, Mapping) or _xcom_arg(expand):
        return [expand]
    return list(expand.values())


def _refs_in(value: Any) -> Iterator[XComRef]:
    found = _xcom_arg(value)
    if found is None:
        return
    form, var = found
    if form == _PLAIN:
        yield _plain_ref(var)
    elif form == _MAP:
        yield from _refs_in(var.get("arg"))
    else:
        for arg in var.get("args") or ():
            yield from _refs_in(arg)


def xcom_refs(spec: Mapping[str, Any] | None) -> list[XComRef]:
    """The XCom values a mapped task's length depends on (each once, in the order they appear)."""
    if not spec:
        return []
    return list(dict.fromkeys(ref for value in _inputs(spec) for ref in _refs_in(value)))


_FINISHED = frozenset(state.value for state in TI_FINISHED)


def input_final(graph: TaskGraph, states: Mapping[tuple[str, int], str], task_id: str) -> bool:
    """Whether what ``task_id`` pushed is final, so a mapped task reading it can expand: the task
    (every map index of a mapped one) finished. The values its successful instances pushed are then
    the input (a None return, a failed or skipped instance push nothing), as in Airflow; the
    downstream task's trigger rule decides whether it runs at all, and one that may run after a
    failed upstream (all_done) does not wait for a list that never comes: it cannot expand
    (``MapInputMissing``)."""
    found = [state for (t, _), state in states.items() if t == task_id]
    return bool(found) and all(str(state) in _FINISHED for state in found)


def _length(value: Any, xcoms: Mapping[XComRef, Any]) -> int:
    found = _xcom_arg(value)
    if found is None:
        return _sized_length(value)
    form, var = found
    if form == _PLAIN:
        ref = _plain_ref(var)
        pushed = xcoms.get(ref)
        if pushed is None:  # a success must push (check_mappable_return): the task did not succeed
            raise MapInputMissing(*ref)
        return _sized_length(stored_items(pushed))
    if form == _MAP:
        return _length(var.get("arg"), xcoms)
    lengths = [_length(arg, xcoms) for arg in var.get("args") or ()]
    if form == _CONCAT:
        return sum(lengths)
    if not lengths:
        return 0
    return max(lengths) if "fillvalue" in var else min(lengths)


def _sized_length(value: Any) -> int:
    if isinstance(value, Mapping) and value.get("__type") and "__var" in value:
        value = value["__var"]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sized):
        raise ValueError(f"cannot map over a value of type {type(value).__name__}; expected a list or dict")
    return len(value)


def map_length(spec: Mapping[str, Any] | None, xcoms: Mapping[XComRef, Any]) -> int:
    """How many instances the mapping makes, given the XCom values of its references (a mapped
    task's: the list of what its indexes pushed); ``MapInputMissing`` if an unmapped one pushed none."""
    if not spec:
        return 0
    total = 1
    for value in _inputs(spec):
        total *= _length(value, xcoms)
    return total
