"""Getting a task ready to run: the copy a try renders into leaves the DAG's own task untouched."""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.task_runner.preparation import fresh_task


def _noop() -> None:
    return None


class _KeepsNoCache(PythonOperator):
    """An operator that drops an attribute when copied (as one holding a client might)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def test_a_fresh_task_is_a_shallow_copy_whose_changes_stay_its_own() -> None:
    with DAG("d", start_date=datetime(2024, 1, 1), schedule=None):
        task = PythonOperator(task_id="t", python_callable=_noop, op_kwargs={"a": 1})
    copied = fresh_task(task)
    assert type(copied) is PythonOperator and copied is not task
    assert copied.__dict__ == task.__dict__
    assert copied.op_kwargs is task.op_kwargs  # shallow, as copy.copy
    copied.op_kwargs = {"a": 2}
    assert task.op_kwargs == {"a": 1}


def test_a_fresh_task_of_an_operator_that_customises_copying_is_copied_its_way() -> None:
    with DAG("d", start_date=datetime(2024, 1, 1), schedule=None):
        task = _KeepsNoCache(task_id="t", python_callable=_noop)
    task.cache = object()
    copied = fresh_task(task)
    assert not hasattr(copied, "cache")
    assert copied.__dict__ == copy.copy(task).__dict__


class _WithASlot(PythonOperator):
    __slots__ = ("extra",)


def test_a_fresh_task_keeps_what_an_operator_holds_in_slots() -> None:
    with DAG("d", start_date=datetime(2024, 1, 1), schedule=None):
        task = _WithASlot(task_id="t", python_callable=_noop)
    task.extra = "kept"
    copied = fresh_task(task)
    assert copied.extra == "kept" and copied.task_id == "t" and copied is not task
