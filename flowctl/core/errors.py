"""The flowctl error hierarchy: one base, lookup errors subclass LookupError.

Must not import anything outside the standard library.
"""
from __future__ import annotations

from typing import Any


class FlowctlError(Exception):
    """Base of every error flowctl raises on purpose."""


class ConfigError(FlowctlError, ValueError):
    """A configuration option has a bad value; the message names the option."""


class DagDefinitionError(FlowctlError, ValueError):
    """A DAG file defines something invalid (bad id, cycle, duplicate task)."""


class DagNotStorableError(DagDefinitionError):
    """The database refused a parsed DAG's values (a NUL character, a value too long for its column)."""


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks in one DAG share a task_id."""


class CycleError(DagDefinitionError):
    """The task dependencies form a cycle; the message names it."""


class NotSupportedError(FlowctlError, NotImplementedError):
    """An Airflow name flowctl does not support; the message names the flowctl way."""


class NotSupportedImportError(NotSupportedError, ImportError):
    """An Airflow name imported from a flowctl module that does not support it.

    An ImportError too, so the ``try: from … import X`` / ``except ImportError:``
    fallbacks that DAG files keep for older Airflow versions still work.
    """


class BadRequest(FlowctlError, ValueError):
    """A request (an argument, a REST call's body) is malformed (Airflow's ``AirflowBadRequest``)."""


class IllegalTransitionError(FlowctlError, ValueError):
    """A state change not allowed by the transition table in core/states.py."""


class ParamValidationError(FlowctlError, ValueError):
    """A run's conf does not satisfy the DAG's params."""


class BackfillTooLargeError(FlowctlError, ValueError):
    """A backfill's range holds more runs than one backfill makes; the message names the cap and its date."""


class TemplateRenderError(FlowctlError):
    """A template field failed to render (for example an undefined name)."""


class NotFoundError(FlowctlError, LookupError):
    """A named object does not exist; the message names its id."""


class DagNotFound(NotFoundError):
    """No DAG with this dag_id."""


class DagRunNotFound(NotFoundError):
    """No DAG run with this run_id."""


class TaskNotFound(NotFoundError):
    """No task with this task_id."""


class XComNotFound(NotFoundError):
    """A task's argument names an XCom key the upstream task never pushed (Airflow's ``XComNotFound``)."""

    def __init__(self, dag_id: str, task_id: str, key: str) -> None:
        self.dag_id, self.task_id, self.key = dag_id, task_id, key
        super().__init__(
            f"XComArg result from task {task_id!r} of DAG {dag_id!r} with key {key!r} is not found: "
            f"{task_id!r} pushed no XCom {key!r}. Indexing a task's result reads the XCom of that key, which "
            f"a task pushes for each key of the dict it returns only with multiple_outputs=True "
            f"(@task(multiple_outputs=True)); or pass the whole result and index it in the downstream task")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.dag_id, self.task_id, self.key)


class MapInputMissing(NotFoundError):
    """A mapped task cannot expand: an unmapped upstream it maps over finished without pushing its value
    (it failed, was skipped or upstream_failed); Airflow's ``NotFullyPopulated`` at expansion."""

    def __init__(self, task_id: str, key: str) -> None:
        self.task_id, self.key = task_id, key
        super().__init__(f"{task_id!r} pushed no XCom {key!r} to map over")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.task_id, self.key)


class XComTooLargeError(FlowctlError, ValueError):
    """An XCom value exceeds the configured size limit."""


class DatasetExtraError(FlowctlError, ValueError):
    """The extra a task set for one of its outlets' dataset events is not a small JSON object."""


# --- task control flow (raised by user code inside a task) -------------------

class TaskSkipped(FlowctlError):
    """Raise inside a task to end it as skipped (Airflow: AirflowSkipException)."""


class UnmappableXComTypePushed(FlowctlError, ValueError):
    """A task returned a value that a mapped task downstream maps over but cannot (not a list or dict)."""


class XComForMappingNotPushed(FlowctlError, ValueError):
    """A task returned None (pushed nothing) where a mapped task downstream maps over its return value."""


class UnmappableXComLengthPushed(FlowctlError, ValueError):
    """A task returned more elements than ``[core] max_map_length`` to a mapped task downstream."""


class MapCallableError(FlowctlError):
    """The callable of ``XComArg.map()`` raised while a mapped task instance got its argument."""


class TaskFailedNoRetry(FlowctlError):
    """Raise inside a task to fail it without retrying (Airflow: AirflowFailException)."""


class SensorTimeout(TaskFailedNoRetry):
    """A sensor waited longer than its timeout (Airflow: AirflowSensorTimeout)."""


class TaskRescheduled(FlowctlError):
    """Raised by a sensor in reschedule mode: give the slot back until ``reschedule_date``."""

    def __init__(self, reschedule_date: object) -> None:
        super().__init__(f"reschedule at {reschedule_date}")
        self.reschedule_date = reschedule_date


class TaskTimeout(FlowctlError):
    """A task ran longer than its execution_timeout."""


class TaskDeferred(FlowctlError):
    """Raised by ``BaseOperator.defer``: the try gives its worker slot back and waits for ``trigger``.

    When the trigger fires, the task resumes (same try) by calling ``method_name(context,
    **kwargs, event=payload)``; ``timeout`` (a timedelta) fails the task if the trigger has not fired by then.
    """

    def __init__(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
                 timeout: Any = None) -> None:
        super().__init__(f"deferred to {type(trigger).__name__}, resuming in {method_name}()")
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout


class TaskDeferralError(FlowctlError):
    """A deferred task's trigger failed; the task fails (and retries per its policy)."""


class TaskDeferralTimeout(FlowctlError):
    """A deferred task's trigger did not fire before its timeout (or the task's execution_timeout)."""


class TaskExited(FlowctlError):
    """Task code called ``sys.exit`` with a code other than 0 or None: a failure, as in Airflow."""

    @classmethod
    def of(cls, exit_: SystemExit) -> TaskExited:
        return cls(f"Task failed due to SystemExit({exit_.code})")


# Airflow's names, kept so ported DAG files work unchanged.
AirflowException = FlowctlError
AirflowSkipException = TaskSkipped
AirflowFailException = TaskFailedNoRetry
AirflowSensorTimeout = SensorTimeout
AirflowRescheduleException = TaskRescheduled
AirflowTaskTimeout = TaskTimeout
AirflowNotFoundException = NotFoundError
DagCycleException = CycleError
AirflowDagCycleException = CycleError
DuplicateTaskIdFound = DuplicateTaskIdError
AirflowConfigException = ConfigError
AirflowBadRequest = BadRequest


# --- admin objects (variables, connections, pools, users) ------------------------------------

class AlreadyExistsError(FlowctlError, ValueError):
    """An object with this id exists already; the message names it."""


class VariableNotFound(NotFoundError, KeyError):
    """No variable with this key (a KeyError too, as Airflow's Variable.get raises)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "variable not found"


class InletNotFound(NotFoundError, KeyError):
    """``inlet_events`` was asked for a dataset (or alias) that is not among the task's inlets
    (a KeyError too, as Airflow's)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not an inlet of the task"


class ConnectionNotFound(NotFoundError):
    """No connection with this conn_id."""


class PoolNotFound(NotFoundError):
    """No pool with this name."""


class UserNotFound(NotFoundError):
    """No user with this username."""


class DagRunAlreadyExists(AlreadyExistsError):
    """A DAG run with this run_id or logical date exists already; the message names it."""


class TaskInstanceNotFound(NotFoundError):
    """No task instance with this (dag_id, run_id, task_id, map_index)."""


class JobNotFound(NotFoundError):
    """No job (scheduler, worker, triggerer, dag processor) with this id."""


class ImportErrorNotFound(NotFoundError):
    """No import error with this id (the file parses now, or never failed)."""


def first_line(error: BaseException) -> str:
    """The first line of what ``error`` says (of the driver's error a database error wraps, ``.orig``,
    without the statement and parameters SQLAlchemy appends), or its type's name: one log line."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0].strip() if lines else type(cause).__name__
