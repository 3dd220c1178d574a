"""ExternalTaskSensor: wait for a task (or a whole run) of another DAG.

Contract with the task runner: it injects ``context["external_state_lookup"]``,
a callable ``lookup(dag_id, task_ids, logical_date) -> list[str | None]`` that
returns the state of each listed task instance of the other DAG's run at
``logical_date`` (``task_ids`` None: a one-element list with that run's state;
an empty list when the run does not exist). The sensor compares those states
with ``allowed_states`` / ``failed_states`` / ``skipped_states``.

``check_existence=True`` fails at once when the other DAG, or a watched task or group, does not
exist (its latest parse, through ``context["external_dag_lookup"]``), as Airflow; a run of it not
yet created is waited for.

The date looked at is this run's ``logical_date`` shifted back by
``execution_delta``, or ``execution_date_fn(logical_date, context)`` (a datetime, or a list
of them: every one of those runs is watched, as in Airflow).

``deferrable=True`` pokes once, then waits in the triggerer (WorkflowTrigger, looking every
``poll_interval`` seconds, as Airflow's) instead of a worker slot, for at most ``timeout``
seconds; it resumes in ``execute_complete`` with the trigger's success / failed / skipped
event. ``external_task_group_id`` watches every task of that group (nested groups too), as
the other DAG's latest parse lists them, in both modes.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, NoReturn

from flowctl.core.errors import DagDefinitionError, FlowctlError, NotSupportedError, TaskSkipped
from flowctl.core.states import DagRunState, TaskInstanceState
from flowctl.core.taskgroup import serialized_group_task_ids
from flowctl.operators.python import context_kwargs_for
from flowctl.sensors.base import BaseSensorOperator

StateLookup = Callable[[str, "list[str] | None", datetime], "list[str | None]"]


def external_verdict(
    states: Sequence[str | None], expected: int, allowed: Iterable[str], failed: Iterable[str], skipped: Iterable[str]
) -> str:
    """``"failed"``, ``"skipped"``, ``"done"`` or ``"wait"`` for the observed states."""
    failed, skipped, allowed = set(failed), set(skipped), set(allowed)
    if any(state in failed for state in states):
        return "failed"
    if states and len(states) >= expected and all(state in skipped for state in states):
        return "skipped"
    if len(states) >= expected and all(state in allowed for state in states):
        return "done"
    return "wait"


def checked_states(states: Iterable[Any], what: str, task_states: bool) -> list[Any]:
    """``states`` as plain strings (Airflow's ``State`` enums too), each a task state when the sensor
    watches tasks (None: no task instance yet) or a DAG run state when it watches the run;
    DagDefinitionError naming the others, as Airflow's ValueError (a typo would wait forever)."""
    known = {str(s) for s in (TaskInstanceState if task_states else DagRunState)}
    values = [None if state is None and task_states else str(state) for state in states]
    wrong = [str(state) for state in values if state not in known and state is not None]
    if wrong:
        kind = "task states" if task_states else "DAG run states"
        raise DagDefinitionError(f"{what} must be {kind} ({', '.join(sorted(known))}), not {', '.join(wrong)}")
    return values


def observe(lookup: Callable[..., Any], dag_id: str, task_ids: list[str] | None, group_id: str | None,
            logical_date: datetime) -> tuple[list[str | None], int]:
    """What the sensor (and its WorkflowTrigger) sees of ``dag_id``'s run at ``logical_date``: the
    states of the tasks, of the group's tasks (as the DAG's latest parse lists them) or of the run
    itself, and how many states a complete answer has ([] while there is no such run)."""
    if group_id is None:
        return list(lookup(dag_id, task_ids, logical_date)), len(task_ids or [None])
    states = list(lookup(dag_id, None, logical_date, task_group_id=group_id))
    return states, max(len(states), 1)


class ExternalTaskSensor(BaseSensorOperator):
    """Succeeds when the external tasks (or DAG run) reached one of ``allowed_states``."""

    template_fields: ClassVar[Sequence[str]] = ("external_dag_id", "external_task_id", "external_task_ids",
                                                 "external_task_group_id")
    ui_color: ClassVar[str] = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Sequence[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., datetime] | None = None,
        check_existence: bool = False,
        deferrable: bool = False,
        poll_interval: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError("pass only one of external_task_id and external_task_ids")
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError("pass only one of execution_delta and execution_date_fn")
        if external_task_group_id is not None and (external_task_id is not None or external_task_ids is not None):
            raise DagDefinitionError("pass only one of external_task_group_id and external_task_id(s)")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids is not None else None
        watches_tasks = any(x is not None for x in (external_task_id, external_task_ids, external_task_group_id))
        self.allowed_states = checked_states(allowed_states or ["success"], "allowed_states", watches_tasks)
        self.skipped_states = checked_states(skipped_states or [], "skipped_states", watches_tasks)
        self.failed_states = checked_states(failed_states or [], "failed_states", watches_tasks)
        both = [state for state in self.allowed_states if state in self.failed_states]
        if both:
            raise DagDefinitionError(f"states in both allowed_states and failed_states: {', '.join(map(str, both))}")
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self._has_checked_existence = False
        self.external_task_group_id = external_task_group_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)

    def task_ids_to_watch(self) -> list[str] | None:
        """The external task ids, or None to watch the whole run."""
        if self.external_task_id is not None:
            return [self.external_task_id]
        return self.external_task_ids

    def date_to_watch(self, context: Mapping[str, Any]) -> datetime:
        """The logical date of the external run to look at (the first, if there are several)."""
        return self.dates_to_watch(context)[0]

    def dates_to_watch(self, context: Mapping[str, Any]) -> list[datetime]:
        """The logical dates of the external runs to look at: one, or every date ``execution_date_fn``
        returns in a list or tuple (Airflow's "desired logical dates to query")."""
        logical_date = context["logical_date"]
        if self.execution_delta is not None:
            return [logical_date - self.execution_delta]
        if self.execution_date_fn is None:
            return [logical_date]
        dates = self._call_execution_date_fn(logical_date, context)
        dates = list(dates) if isinstance(dates, (list, tuple)) else [dates]
        wrong = [date for date in dates if not isinstance(date, datetime)]
        if not dates or wrong:
            raise FlowctlError(f"execution_date_fn of {self.task_id!r} must return a datetime or a non-empty "
                               f"list of them, got {dates!r}")
        return dates

    def _call_execution_date_fn(self, logical_date: datetime, context: Mapping[str, Any]) -> datetime:
        """Like Airflow: the date positionally, then the context keys the function names (or
        ``**kwargs``) by name, with ``context`` itself as one more key."""
        assert self.execution_date_fn is not None
        keys = {k: v for k, v in context.items() if k not in ("logical_date", "execution_date")}
        keys["context"] = context
        return self.execution_date_fn(logical_date,
                                      **context_kwargs_for(self.execution_date_fn, [logical_date], {}, keys))

    def poke(self, context: Mapping[str, Any]) -> bool:
        lookup = context.get("external_state_lookup")
        if lookup is None:
            raise FlowctlError("ExternalTaskSensor needs context['external_state_lookup'], which the flowctl task runner provides")
        task_ids = self.task_ids_to_watch()
        if self.check_existence and not self._has_checked_existence:
            self._check_existence(context, task_ids)
        verdicts: list[str] = []
        for when in self.dates_to_watch(context):
            states, expected = observe(lookup, self.external_dag_id, task_ids, self.external_task_group_id, when)
            self._log_poke(when, task_ids, states)
            verdict = external_verdict(states, expected, self.allowed_states, self.failed_states, self.skipped_states)
            if verdict == "failed":
                self._external_failed(states)
            verdicts.append(verdict)
        if "skipped" in verdicts:
            self._external_skipped()
        return all(verdict == "done" for verdict in verdicts)

    def _check_existence(self, context: Mapping[str, Any], task_ids: list[str] | None) -> None:
        """``check_existence``: fail at once when the other DAG, or a task or group watched, does not
        exist (as its latest parse has it), as Airflow; a run not yet created is waited for."""
        lookup = context.get("external_dag_lookup")
        if lookup is None:
            raise FlowctlError("ExternalTaskSensor(check_existence=True) needs context['external_dag_lookup'], "
                               "which the flowctl task runner provides")
        tree = lookup(self.external_dag_id)
        if tree is None:
            raise FlowctlError(f"The external DAG {self.external_dag_id!r} does not exist (check_existence)")
        group_id = self.external_task_group_id
        if group_id is not None and serialized_group_task_ids(tree, group_id) is None:
            raise FlowctlError(f"The external task group {group_id!r} in DAG {self.external_dag_id!r} "
                               "does not exist (check_existence)")
        known = set(serialized_group_task_ids(tree, tree.get("group_id")) or ())
        missing = [task_id for task_id in task_ids or () if known and task_id not in known]
        if missing:
            raise FlowctlError(f"The external task(s) {missing} in DAG {self.external_dag_id!r} do not exist "
                               "(check_existence)")
        self._has_checked_existence = True

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke (and sleep, or reschedule); with ``deferrable=True`` one poke, then a WorkflowTrigger
        waits in the triggerer and the task holds no worker slot."""
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from flowctl.triggers.external_task import WorkflowTrigger

        self.defer(trigger=WorkflowTrigger(
            external_dag_id=self.external_dag_id, execution_dates=self.dates_to_watch(context),
            external_task_ids=self.task_ids_to_watch(), external_task_group_id=self.external_task_group_id,
            failed_states=self.failed_states, skipped_states=self.skipped_states,
            allowed_states=self.allowed_states, poke_interval=self.poll_interval, soft_fail=self.soft_fail),
            method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the WorkflowTrigger fired: succeed, skip, or fail (skip with ``soft_fail``)."""
        status = event.get("status") if isinstance(event, Mapping) else None
        if status == "success":
            self.log.info("external %r %s reached %s", self.external_dag_id, self._watched(),
                          ", ".join(self.allowed_states))
            return None
        if status == "skipped":
            self._external_skipped()
        self._external_failed(event.get("states") if isinstance(event, Mapping) else event)

    def _log_poke(self, when: datetime, task_ids: list[str] | None, states: list[str | None]) -> None:
        """One line per poke: what it waits for, at which logical date, and what it saw (the try's log
        then tells why the sensor still waits)."""
        if not states:
            seen = "no such run"
        elif self.external_task_group_id is None and task_ids is not None:
            seen = ", ".join(f"{task}: {state or 'no task instance'}" for task, state in zip(task_ids, states))
        elif self.external_task_group_id is None:
            seen = f"run {states[0]}"
        else:
            seen = ", ".join(state or "no task instance" for state in states)
        watched = self._watched()
        self.log.info("Poking for %s of DAG %r at logical date %s: %s; waiting for %s",
                      "the run" if watched == "run" else watched,
                      self.external_dag_id, when.isoformat(), seen, ", ".join(self.allowed_states))

    def _watched(self) -> str:
        if self.external_task_group_id is not None:
            return f"task group {self.external_task_group_id!r}"
        task_ids = self.task_ids_to_watch()
        return "run" if task_ids is None else f"tasks {task_ids}"

    def _external_failed(self, states: Any) -> NoReturn:
        message = f"external {self.external_dag_id!r} {self._watched()} ended in a failed state: {states}"
        if self.soft_fail:
            raise TaskSkipped(message)
        raise FlowctlError(message)

    def _external_skipped(self) -> NoReturn:
        raise TaskSkipped(f"external {self.external_dag_id!r} {self._watched()} were skipped")


class ExternalTaskMarker:
    """Not supported: clearing across DAGs is done with ``flowctl tasks clear`` per DAG."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupportedError("ExternalTaskMarker is not supported; clear the other DAG with `flowctl tasks clear`")
