"""TriggerDagRunOperator (Airflow-compatible path ``flowctl.operators.trigger_dagrun``).

Creates a manual run of another DAG with a conf, a logical date (a naive one, or a text
without an offset, is read in ``[core] default_timezone``, as Airflow's) and a run id
(``manual__<logical date>`` unless given), pushes that run's logical date and
run id as XComs (Airflow's keys), and with ``wait_for_completion`` polls the
run every ``poke_interval`` seconds until it reaches one of ``allowed_states``
(success) or ``failed_states`` (the task fails). If the run id or the logical
date is taken: ``reset_dag_run`` clears that run so it runs again,
``skip_when_already_exists`` skips this task, otherwise the task fails with
DagRunAlreadyExists.

Contract with the task runner: ``context["ti"]`` has ``trigger_dag_run``,
``find_dag_run``, ``clear_dag_run`` and ``dag_run_state``
(``flowctl.task_runner.run_control``). With ``deferrable=True`` the wait happens in the
triggerer, not a worker slot: the task defers to a DagStateTrigger (the run reaching
``allowed_states`` or ``failed_states``, looked at every ``poke_interval`` seconds) and
resumes in ``execute_complete``, which judges the run's state as the polling wait does.
The clock and the sleep are class attributes so tests can fix time.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, NoReturn

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.errors import DagDefinitionError, DagRunAlreadyExists, FlowctlError, TaskSkipped
from flowctl.core.states import DagRunState
from flowctl.core import airflow_names, timezones
from flowctl.core.timezones import utcnow

XCOM_EXECUTION_DATE_ISO = "trigger_execution_date_iso"
XCOM_RUN_ID = "trigger_run_id"


def parse_logical_date(value: str | datetime | None) -> datetime | None:
    """A rendered ``logical_date``: a datetime or an ISO 8601 text such as ``{{ ds }}``; a naive one
    is wall-clock time in the default zone (``[core] default_timezone``), as in Airflow."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return timezones.parse_moment(value, zone=timezones.TIMEZONE)
        except ValueError as error:
            raise FlowctlError(f"logical_date: {error}") from None
    if value.tzinfo is not None:
        return value
    aware = timezones.make_aware(value)
    assert aware is not None
    return aware.astimezone(timezone.utc)


def run_states(states: Iterable[str] | None, default: list[str], what: str) -> list[str]:
    """``states`` checked against the DAG run states (``default`` when None)."""
    if states is None:
        return list(default)
    known = {s.value for s in DagRunState}
    wrong = sorted(str(s) for s in states if str(s) not in known)
    if wrong:
        raise DagDefinitionError(f"{what} must be DAG run states ({', '.join(sorted(known))}), not {', '.join(wrong)}")
    return [str(DagRunState(str(s))) for s in states]


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of ``trigger_dag_id`` (templated, like ``trigger_run_id``, ``logical_date`` and ``conf``)."""

    template_fields: ClassVar[Sequence[str]] = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    template_fields_renderers: ClassVar[dict[str, str]] = {"conf": "py"}
    ui_color: ClassVar[str] = "#ffefeb"
    clock: ClassVar[Callable[[], datetime]] = staticmethod(utcnow)
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | datetime | None = None,
        execution_date: str | datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float | timedelta = 60,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if logical_date is not None and execution_date is not None:
            raise DagDefinitionError("pass only one of logical_date and execution_date (its older name)")
        when = logical_date if logical_date is not None else execution_date
        if when is not None and not isinstance(when, (str, datetime)):
            raise DagDefinitionError(f"logical_date must be a str or a datetime, not {type(when).__name__}")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = when
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = (poke_interval.total_seconds() if isinstance(poke_interval, timedelta)
                              else float(poke_interval))
        self.allowed_states = run_states(allowed_states or None, [DagRunState.SUCCESS.value], "allowed_states")
        self.failed_states = run_states(failed_states, [DagRunState.FAILED.value], "failed_states")
        self.skip_when_already_exists = skip_when_already_exists
        self.deferrable = deferrable

    @property
    def execution_date(self) -> str | datetime | None:
        """Airflow's older name for ``logical_date``."""
        return self.logical_date

    def execute(self, context: Mapping[str, Any]) -> None:
        ti = context["ti"]
        when = parse_logical_date(self.logical_date) or self.clock()
        run_id = str(self.trigger_run_id) if self.trigger_run_id else f"manual__{when.isoformat()}"
        try:
            run = ti.trigger_dag_run(self.trigger_dag_id, run_id, when, self._checked_conf())
            self.log.info("Triggered DAG %s: run %s", self.trigger_dag_id, run.run_id)
        except DagRunAlreadyExists as exc:
            run = self._existing_run(ti, run_id, when, exc)
        logical = run.logical_date if run.logical_date.tzinfo else run.logical_date.replace(tzinfo=timezone.utc)
        ti.xcom_push(key=XCOM_EXECUTION_DATE_ISO, value=logical.isoformat())
        ti.xcom_push(key=XCOM_RUN_ID, value=run.run_id)
        if self.wait_for_completion and self.deferrable:
            self._defer_until_finished(run.run_id, logical)
        if self.wait_for_completion:
            self._wait(ti, run.run_id)

    def _checked_conf(self) -> dict[str, Any]:
        conf = dict(self.conf or {})
        try:
            json.dumps(conf)
        except (TypeError, ValueError) as exc:
            raise FlowctlError(f"conf of {self.task_id!r} must be JSON-serializable: {exc}") from None
        return conf

    def _existing_run(self, ti: Any, run_id: str, when: datetime, exc: DagRunAlreadyExists) -> Any:
        if self.reset_dag_run:
            run = ti.find_dag_run(self.trigger_dag_id, run_id, when)
            self.log.info("Clearing run %s of DAG %s (reset_dag_run)", run.run_id, self.trigger_dag_id)
            ti.clear_dag_run(self.trigger_dag_id, run.run_id)
            return run
        if self.skip_when_already_exists:
            raise TaskSkipped(f"{exc}; skipping (skip_when_already_exists)")
        raise exc

    def _wait(self, ti: Any, run_id: str) -> None:
        while True:
            self.log.info("Waiting for run %s of DAG %s to reach %s ...", run_id, self.trigger_dag_id,
                          ", ".join(self.allowed_states))
            self.sleep(self.poke_interval)
            if self._finished(run_id, ti.dag_run_state(self.trigger_dag_id, run_id)):
                return

    def _finished(self, run_id: str, state: str) -> bool:
        """Whether the run's ``state`` ends the wait (allowed); FlowctlError for one of failed_states."""
        if state in self.failed_states:
            raise FlowctlError(f"run {run_id} of DAG {self.trigger_dag_id!r} ended {state} (failed_states)")
        if state in self.allowed_states:
            self.log.info("Run %s of DAG %s ended %s", run_id, self.trigger_dag_id, state)
            return True
        return False

    def _defer_until_finished(self, run_id: str, logical_date: datetime) -> NoReturn:
        from flowctl.triggers.external_task import DagStateTrigger

        self.log.info("Deferring until run %s of DAG %s reaches %s", run_id, self.trigger_dag_id,
                      ", ".join(self.allowed_states + self.failed_states))
        self.defer(trigger=DagStateTrigger(dag_id=self.trigger_dag_id, states=self.allowed_states + self.failed_states,
                                           execution_dates=[logical_date], run_ids=[run_id],
                                           poll_interval=self.poke_interval),
                   method_name="execute_complete")

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Resume after the DagStateTrigger fired: succeed if the run is in allowed_states, fail if
        it is in failed_states (or in neither, having changed since)."""
        kwargs = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else {}
        run_ids = kwargs.get("run_ids") if isinstance(kwargs, Mapping) else None
        if not run_ids:
            raise FlowctlError(f"{self.task_id}: the trigger's event {event!r} names no run of DAG "
                               f"{self.trigger_dag_id!r}")
        run_id = str(run_ids[0])
        ti = context["ti"]
        state = ti.dag_run_state(self.trigger_dag_id, run_id)
        if not self._finished(run_id, state):
            raise FlowctlError(f"run {run_id} of DAG {self.trigger_dag_id!r} is {state}, in neither "
                               f"allowed_states {self.allowed_states} nor failed_states {self.failed_states}")


__getattr__ = airflow_names.module_getattr(__name__, {"TriggerDagRunLink": airflow_names.EXTRA_LINKS_WAY})
