"""The JSON shapes of Airflow 2's REST API (DAG, DAGDetail, Task, DAGRun, TaskInstance, XCom), from records.

Pure functions of Store records and serialized DAG mappings: no Flask, no
database. Fields flowctl does not keep are there with Airflow's empty value
(``null``, ``{}``) so clients that read them do not break.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

from flowctl.core.deferral import decode_json
from flowctl.core.masking import SecretsMasker
from flowctl.core.timezones import make_aware
from flowctl.core.xcom_values import decode_xcom_value
from flowctl.db.records import DagRecord, DagRunRecord, JobRecord, TaskInstanceRecord, XComRecord
from flowctl.db.triggers import TriggerRecord

#: Serialized task keys that Airflow's Task object has under the same name.
TASK_KEYS = ("owner", "trigger_rule", "depends_on_past", "wait_for_downstream", "retries", "queue", "pool",
             "pool_slots", "retry_exponential_backoff", "priority_weight", "weight_rule", "ui_color",
             "ui_fgcolor", "template_fields", "doc_md")
#: The class a dumped param names (Airflow's ``Param.dump()``): flowctl's, at its Airflow-compatible path.
PARAM_CLASS = "flowctl.models.param.Param"
#: flowctl's job types as Airflow's Job object names them.
AIRFLOW_JOB_TYPES = {"scheduler": "SchedulerJob", "triggerer": "TriggererJob", "dag_processor": "DagProcessorJob",
                     "worker": "LocalTaskJob"}


def iso(value: datetime | None) -> str | None:
    """A datetime as ISO 8601 text (None stays None)."""
    return None if value is None else value.isoformat()


def _seconds_delta(seconds: Any) -> dict[str, Any] | None:
    """Airflow's TimeDelta object from a number of seconds (None stays None)."""
    if seconds is None:
        return None
    whole = float(seconds)
    days, rest = divmod(whole, 86_400)
    return {"__type": "TimeDelta", "days": int(days), "seconds": int(rest),
            "microseconds": int(round((rest - int(rest)) * 1_000_000))}


def schedule_interval(timetable: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Airflow's ``schedule_interval`` object for a serialized timetable (None for custom ones)."""
    if not timetable:
        return None
    kind = str(timetable.get("__type", "")).rsplit(".", 1)[-1]
    if kind == "CronDataIntervalTimetable":
        return {"__type": "CronExpression", "value": timetable.get("expression")}
    if kind == "DeltaDataIntervalTimetable" and "delta" in timetable:
        return _seconds_delta(timetable["delta"])
    if kind == "DeltaDataIntervalTimetable":
        return {"__type": "RelativeDelta", **dict(timetable.get("relativedelta") or {})}
    if kind in ("OnceTimetable", "ContinuousTimetable"):
        return {"__type": "CronExpression", "value": "@" + kind.removesuffix("Timetable").lower()}
    return None


def _owners(owners: str | None) -> list[str]:
    return [o.strip() for o in (owners or "").split(",") if o.strip()]


@dataclass(frozen=True, slots=True)
class DagExtras:
    """What a DAG object shows that its record does not hold: its file's token and the configured
    limits of a DAG that sets none (``[core] max_active_runs_per_dag`` / ``max_active_tasks_per_dag``)."""

    file_token: str | None = None
    max_active_runs: int | None = None
    max_active_tasks: int | None = None


def dag_json(dag: DagRecord, body: Mapping[str, Any] | None = None,
             extras: DagExtras = DagExtras()) -> dict[str, Any]:
    """Airflow's DAG object; ``body`` (the serialized DAG) adds the schedule when given."""
    body = body or {}
    return {"dag_id": dag.dag_id, "dag_display_name": body.get("dag_display_name") or dag.dag_id,
            "root_dag_id": None,
            "is_paused": dag.is_paused, "is_active": dag.is_active, "is_subdag": False,
            "last_parsed_time": iso(dag.last_parsed_time), "last_pickled": None, "last_expired": None,
            "scheduler_lock": None, "pickle_id": None, "default_view": "grid", "fileloc": dag.fileloc,
            "file_token": extras.file_token, "owners": _owners(dag.owners), "description": dag.description,
            "schedule_interval": schedule_interval(body.get("timetable")),
            "timetable_summary": dag.timetable_summary,
            "timetable_description": body.get("timetable_description") or dag.timetable_summary,
            "tags": [{"name": t} for t in dag.tags],
            "max_active_tasks": _or(dag.max_active_tasks, extras.max_active_tasks),
            "max_active_runs": _or(dag.max_active_runs, extras.max_active_runs),
            "has_task_concurrency_limits": _has_task_limits(body),
            "has_import_errors": dag.has_import_errors, "next_dagrun": iso(dag.next_dagrun),
            "next_dagrun_data_interval_start": iso(dag.next_dagrun_data_interval_start),
            "next_dagrun_data_interval_end": iso(dag.next_dagrun_data_interval_end),
            "next_dagrun_create_after": iso(dag.next_dagrun_create_after)}


def _or(value: int | None, default: int | None) -> int | None:
    return default if value is None else value


def _has_task_limits(body: Mapping[str, Any]) -> bool:
    return any(t.get("max_active_tis_per_dag") for t in body.get("tasks") or ())


def dag_details_json(dag: DagRecord, body: Mapping[str, Any], extras: DagExtras = DagExtras()) -> dict[str, Any]:
    """Airflow's DAGDetail: the DAG object plus what only the serialized DAG knows."""
    timetable = body.get("timetable") or {}
    shown = dag_json(dag, body, extras)
    return {**shown, "timezone": body.get("timezone") or timetable.get("timezone") or "UTC",
            "catchup": bool(body.get("catchup", True)), "orientation": body.get("orientation") or "LR",
            "concurrency": shown["max_active_tasks"], "start_date": body.get("start_date"),
            "end_date": body.get("end_date"), "dag_run_timeout": _seconds_delta(body.get("dagrun_timeout")),
            "doc_md": body.get("doc_md"), "params": params_json(body.get("params")),
            "is_paused_upon_creation": body.get("is_paused_upon_creation"),
            "last_parsed": iso(dag.last_parsed_time), "template_search_path": body.get("template_searchpath"),
            "render_template_as_native_obj": bool(body.get("render_template_as_native_obj"))}


def params_json(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Serialized params as Airflow's API dumps them: ``{name: {"__class", "value", "description",
    "schema"}}``, the value null when the param has none."""
    return {name: {"__class": PARAM_CLASS, "value": item.get("value") if item.get("has_value", True) else None,
                   "description": item.get("description"), "schema": item.get("schema") or {}}
            for name, item in (params or {}).items()}


def task_json(task: Mapping[str, Any], dag: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Airflow's Task object from a serialized task; ``dag`` (the serialized DAG) gives the dates a
    task that sets none has: its ``default_args``' or else the DAG's, as the task runs with."""
    operator = str(task.get("task_type") or task.get("operator") or "")
    dag = dag or {}
    out: dict[str, Any] = {"class_ref": {"module_path": task.get("operator_module"), "class_name": operator},
                           "task_id": str(task["task_id"]),
                           "task_display_name": str(task.get("task_display_name") or task["task_id"]),
                           "start_date": _task_date(task, dag, "start_date"),
                           "end_date": _task_date(task, dag, "end_date"),
                           "extra_links": [], "is_mapped": bool(task.get("is_mapped")),
                           "execution_timeout": _seconds_delta(task.get("execution_timeout")),
                           "retry_delay": _seconds_delta(task.get("retry_delay")), "sub_dag": None,
                           "downstream_task_ids": sorted(task.get("downstream_task_ids") or ())}
    out.update({key: task.get(key) for key in TASK_KEYS})
    return out


def _task_date(task: Mapping[str, Any], dag: Mapping[str, Any], name: str) -> str | None:
    """The task's own date, else its DAG's ``default_args``' (naive: in the DAG's zone), else the DAG's."""
    if task.get(name):
        return str(task[name])
    default = (dag.get("default_args") or {}).get(name)
    if isinstance(default, Mapping) and default.get("__type") in ("datetime", "date"):
        try:
            when = datetime.fromisoformat(str(default.get("__var")))
        except ValueError:
            when = None  # not a date after all: the DAG's own below
        if when is not None:
            return (when if when.tzinfo else _in_zone(when, dag.get("timezone"))).isoformat()
    value = dag.get(name)
    return None if value is None else str(value)


def _in_zone(naive: datetime, zone: Any) -> datetime:
    """A naive date of a DAG file as the DAG read it: wall-clock time in its zone (UTC when none)."""
    if not zone:
        return naive.replace(tzinfo=timezone.utc)
    return make_aware(naive, str(zone)) or naive


def run_json(run: DagRunRecord) -> dict[str, Any]:
    """Airflow's DAGRun object."""
    return {"dag_id": run.dag_id, "dag_run_id": run.run_id, "run_type": run.run_type, "state": run.state,
            "logical_date": iso(run.logical_date), "execution_date": iso(run.logical_date),
            "data_interval_start": iso(run.data_interval_start),
            "data_interval_end": iso(run.data_interval_end), "start_date": iso(run.start_date),
            "end_date": iso(run.end_date), "last_scheduling_decision": iso(run.last_scheduling_decision),
            "conf": dict(run.conf), "external_trigger": run.external_trigger, "note": run.note}


def trigger_json(trigger: TriggerRecord) -> dict[str, Any]:
    """Airflow's Trigger object: ``kwargs`` as text (Airflow's), the values of secret-looking keys ``***``."""
    kwargs = SecretsMasker().redact(decode_json(dict(trigger.kwargs)))
    return {"id": trigger.id, "classpath": trigger.classpath, "kwargs": str(kwargs),
            "created_date": iso(trigger.created_date), "triggerer_id": trigger.triggerer_id}


def job_json(job: JobRecord) -> dict[str, Any]:
    """Airflow's Job object (``job_type`` by Airflow's name: TriggererJob, SchedulerJob, ...)."""
    return {"id": job.id, "dag_id": None, "state": job.state,
            "job_type": AIRFLOW_JOB_TYPES.get(job.job_type, job.job_type), "start_date": iso(job.start_date),
            "end_date": iso(job.end_date), "latest_heartbeat": iso(job.latest_heartbeat),
            "executor_class": job.executor_class, "hostname": job.hostname, "unixname": None}


def ti_json(ti: TaskInstanceRecord, execution_date: datetime | None, trigger: TriggerRecord | None = None,
            triggerer_job: JobRecord | None = None) -> dict[str, Any]:
    """Airflow's TaskInstance object; ``execution_date`` is its run's logical date; a deferred one's
    ``trigger`` and the ``triggerer_job`` running it when given (else null)."""
    return {"dag_id": ti.dag_id, "dag_run_id": ti.run_id, "task_id": ti.task_id,
            "task_display_name": ti.task_id, "map_index": ti.map_index, "rendered_map_index": None,
            "execution_date": iso(execution_date), "state": ti.state, "try_number": ti.try_number,
            "max_tries": ti.max_tries, "start_date": iso(ti.start_date), "end_date": iso(ti.end_date),
            "duration": ti.duration, "hostname": ti.hostname or "", "unixname": None, "pid": ti.pid,
            "pool": ti.pool, "pool_slots": ti.pool_slots, "queue": ti.queue, "priority_weight": ti.priority_weight,
            "operator": ti.operator, "queued_when": iso(ti.queued_at), "queued_by_job_id": ti.queued_by_job_id,
            "executor": ti.executor, "executor_config": {}, "sla_miss": None,
            "rendered_fields": dict(ti.rendered_fields or {}),
            "trigger": None if trigger is None else trigger_json(trigger),
            "triggerer_job": None if triggerer_job is None else job_json(triggerer_job), "note": ti.note}


def ti_ref_json(ti: TaskInstanceRecord, execution_date: datetime | None) -> dict[str, Any]:
    """Airflow's TaskInstanceReference (what clear and set-state answer with)."""
    return {"dag_id": ti.dag_id, "dag_run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
            "execution_date": iso(execution_date)}


def xcom_entry_json(xcom: XComRecord, execution_date: datetime | None) -> dict[str, Any]:
    """Airflow's XComCollectionItem: an XCom without its value."""
    return {"dag_id": xcom.dag_id, "dag_run_id": xcom.run_id, "task_id": xcom.task_id,
            "map_index": xcom.map_index, "key": xcom.key, "timestamp": iso(xcom.timestamp),
            "execution_date": iso(execution_date)}


def xcom_json(xcom: XComRecord, execution_date: datetime | None, value: Any) -> dict[str, Any]:
    """Airflow's XCom: the entry and its ``value`` (:func:`xcom_text` or :func:`xcom_native` of it)."""
    return {**xcom_entry_json(xcom, execution_date), "value": value}


def xcom_text(stored: Any) -> str | None:
    """An XCom value as Airflow's API gives it by default: ``str()`` of the Python value a task pulls
    (``ok``, ``[0, 1, 2]``, ``{'a': 1}``); None stays null."""
    value = decode_xcom_value(stored)
    return None if value is None else str(value)


def xcom_native(stored: Any) -> Any:
    """An XCom value as JSON (Airflow's ``stringify=false``): dates and times as ISO 8601 text,
    sets as lists, Decimals and timedeltas as their text."""
    return json.loads(json.dumps(decode_xcom_value(stored), default=_json_of))


def _json_of(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)
