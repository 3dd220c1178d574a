"""DagStateTrigger and WorkflowTrigger: wait for other DAGs' runs and tasks (Airflow's
``airflow.triggers.external_task``), for TriggerDagRunOperator and ExternalTaskSensor in deferrable mode.

Both read the metadata database every poll interval through :mod:`flowctl.triggers.metadata`
(the query in a worker thread, never on the event loop). A run is named by its run id
(``run_ids``) or by its logical date (``execution_dates``, Airflow 2's name); with both,
the run ids count. Events, as Airflow's:

* DagStateTrigger fires once every named run is in one of ``states``; its payload is its own
  ``serialize()``, ``(classpath, kwargs)``, so ``event[1]["run_ids"]`` / ``["execution_dates"]``
  name the runs the resumed task looks at.
* WorkflowTrigger fires ``{"status": "success" | "failed" | "skipped"}`` (plus ``"states"``, what
  it saw) with the rule of ExternalTaskSensor's poke (:func:`~flowctl.sensors.external_task.external_verdict`)
  applied per run: a run in ``failed_states`` fails, a skipped one skips, all runs done succeed.
  ``external_task_group_id`` watches every task of that group (nested groups too) as the DAG's
  latest parse lists them. ``soft_fail`` is kept for the resumed task: the trigger reports, the
  sensor decides.

Must not import flowctl.db (the Store is reached lazily, in a thread), web, cli or scheduler.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from flowctl.core.errors import DagRunNotFound
from flowctl.sensors.external_task import external_verdict, observe
from flowctl.triggers.base import BaseTrigger, TriggerEvent
from flowctl.triggers.metadata import read

#: What one watched run shows: the states seen and how many were expected.
Observed = tuple[list[str | None], int]


def _named_runs(run_ids: Sequence[str] | None, execution_dates: Sequence[datetime] | None, what: str
                ) -> tuple[list[str] | None, list[datetime] | None]:
    if not run_ids and not execution_dates:
        raise ValueError(f"{what} needs run_ids or execution_dates (the runs to watch)")
    return (list(run_ids) if run_ids else None), (list(execution_dates) if execution_dates else None)


def run_states(store: Any, dag_id: str, run_ids: Sequence[str] | None,
               execution_dates: Sequence[datetime] | None) -> list[str | None]:
    """The state of each named run of ``dag_id`` (None for one that does not exist)."""
    if run_ids:
        states: list[str | None] = []
        for run_id in run_ids:
            try:
                states.append(str(store.get_run(dag_id, run_id).state))
            except DagRunNotFound:
                states.append(None)
        return states
    found = [store.list_runs(dag_id, since=when, until=when, limit=1) for when in execution_dates or []]
    return [str(runs[0].state) if runs else None for runs in found]


def watched_states(store: Any, dag_id: str, run_ids: Sequence[str] | None,
                   execution_dates: Sequence[datetime] | None, task_ids: Sequence[str] | None,
                   group_id: str | None) -> list[Observed]:
    """Per named run of ``dag_id``: the states of the watched tasks (or of the run itself) and how
    many states a complete answer has."""
    dates: list[datetime | None] = list(execution_dates or [])
    if run_ids:
        dates = []
        for run_id in run_ids:
            try:
                dates.append(store.get_run(dag_id, run_id).logical_date)
            except DagRunNotFound:
                dates.append(None)
    task_ids = list(task_ids) if task_ids else None
    return [([], 1) if when is None else observe(store.external_states, dag_id, task_ids, group_id, when)
            for when in dates]


def workflow_status(observed: Sequence[Observed], allowed: Iterable[str], failed: Iterable[str],
                    skipped: Iterable[str]) -> str | None:
    """``"failed"``, ``"skipped"`` or ``"success"`` for what the watched runs show; None: wait."""
    allowed, failed, skipped = list(allowed), list(failed), list(skipped)
    verdicts = [external_verdict(states, expected, allowed, failed, skipped) for states, expected in observed]
    if "failed" in verdicts:
        return "failed"
    if "skipped" in verdicts:
        return "skipped"
    if verdicts and all(verdict == "done" for verdict in verdicts):
        return "success"
    return None


class DagStateTrigger(BaseTrigger):
    """Fires once the named runs of ``dag_id`` are all in one of ``states``; the payload is ``serialize()``."""

    def __init__(self, dag_id: str, states: Iterable[str], execution_dates: Sequence[datetime] | None = None,
                 poll_interval: float = 5.0, run_ids: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dag_id = dag_id
        self.states = [str(state) for state in states]
        self.run_ids, self.execution_dates = _named_runs(run_ids, execution_dates, "DagStateTrigger")
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "flowctl.triggers.external_task.DagStateTrigger", {
            "dag_id": self.dag_id, "states": self.states, "execution_dates": self.execution_dates,
            "run_ids": self.run_ids, "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            states = await read(run_states, self.dag_id, self.run_ids, self.execution_dates)
            if all(state in self.states for state in states):
                self.log.info("the runs of DAG %s are %s", self.dag_id, ", ".join(map(str, states)))
                yield TriggerEvent(self.serialize())
                return
            self.log.debug("runs of DAG %s are %s; looking again in %gs", self.dag_id, states, self.poll_interval)
            await asyncio.sleep(self.poll_interval)


class WorkflowTrigger(BaseTrigger):
    """Fires ``{"status": "success" | "failed" | "skipped"}`` for tasks, a task group or whole runs of
    ``external_dag_id``."""

    def __init__(
        self,
        external_dag_id: str,
        execution_dates: Sequence[datetime] | None = None,
        external_task_ids: Sequence[str] | None = None,
        external_task_group_id: str | None = None,
        failed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        allowed_states: Iterable[str] | None = None,
        poke_interval: float = 2.0,
        soft_fail: bool = False,
        run_ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_ids and external_task_group_id:
            raise ValueError("pass only one of external_task_ids and external_task_group_id")
        self.external_dag_id = external_dag_id
        self.run_ids, self.execution_dates = _named_runs(run_ids, execution_dates, "WorkflowTrigger")
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.external_task_group_id = external_task_group_id
        self.failed_states = [str(state) for state in failed_states or ()]
        self.skipped_states = [str(state) for state in skipped_states or ()]
        self.allowed_states = [str(state) for state in allowed_states or ("success",)]
        self.poke_interval = float(poke_interval)
        self.soft_fail = soft_fail

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "flowctl.triggers.external_task.WorkflowTrigger", {
            "external_dag_id": self.external_dag_id, "execution_dates": self.execution_dates,
            "run_ids": self.run_ids, "external_task_ids": self.external_task_ids,
            "external_task_group_id": self.external_task_group_id, "failed_states": self.failed_states,
            "skipped_states": self.skipped_states, "allowed_states": self.allowed_states,
            "poke_interval": self.poke_interval, "soft_fail": self.soft_fail}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            observed = await read(watched_states, self.external_dag_id, self.run_ids, self.execution_dates,
                                  self.external_task_ids, self.external_task_group_id)
            status = workflow_status(observed, self.allowed_states, self.failed_states, self.skipped_states)
            if status is not None:
                states = [state for seen, _ in observed for state in seen]
                self.log.info("DAG %s: %s (%s)", self.external_dag_id, status, ", ".join(map(str, states)))
                yield TriggerEvent({"status": status, "states": states})
                return
            self.log.debug("DAG %s: waiting (%s); looking again in %gs", self.external_dag_id, observed,
                           self.poke_interval)
            await asyncio.sleep(self.poke_interval)
