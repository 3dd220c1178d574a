"""JSON API under ``/api/v1`` for datasets, in Airflow 2's REST shapes.

Owns ``GET /datasets`` (each dataset with its consuming DAGs and producing tasks;
``uri_pattern``, ``limit``, ``offset``, ``order_by`` ``id`` / ``uri``) and
``GET /datasets/events`` (``dataset_id``, ``source_dag_id``, ``source_task_id``,
``source_run_id``, ``source_map_index``; ``order_by`` ``timestamp``, oldest first as
Airflow's; each event with the runs it created). Needs ``read``; DAGs the user may
not see are left out of both. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from flowctl.core.datasets import DatasetEvent
from flowctl.db.records import DagRunRecord
from flowctl.web import context
from flowctl.web.api_params import check_known_args, int_arg, order_by_arg, paging
from flowctl.web.api_shapes import iso
from flowctl.web.auth import hidden_dags, requires
from flowctl.web.permissions import Perm

bp = Blueprint("api_datasets", __name__, url_prefix="/api/v1")
PAGING = ("limit", "offset", "order_by")
EVENT_TEXT_FILTERS = ("source_dag_id", "source_task_id", "source_run_id")
MAX_ID = 2**31 - 1


@bp.route("/datasets")
@requires(Perm.READ)
def datasets() -> Any:
    check_known_args((*PAGING, "uri_pattern"))
    offset, limit = paging()
    order = order_by_arg(("id", "uri")) or "id"
    found, total = context.store().list_datasets(limit, offset, request.args.get("uri_pattern") or None,
                                                 order_by=order.removeprefix("-"), descending=order.startswith("-"))
    hidden = hidden_dags()
    for dataset in found:
        dataset["created_at"], dataset["updated_at"] = iso(dataset["created_at"]), iso(dataset["updated_at"])
        for name in ("consuming_dags", "producing_tasks"):
            dataset[name] = [{**ref, "created_at": iso(ref["created_at"]), "updated_at": iso(ref["updated_at"])}
                             for ref in dataset[name] if ref["dag_id"] not in hidden]
    return jsonify({"datasets": found, "total_entries": total})


@bp.route("/datasets/events")
@requires(Perm.READ)
def dataset_events() -> Any:
    check_known_args((*PAGING, "dataset_id", "source_map_index", *EVENT_TEXT_FILTERS))
    offset, limit = paging()
    order = order_by_arg(("timestamp",)) or "timestamp"
    filters: dict[str, Any] = {name: request.args.get(name) or None for name in EVENT_TEXT_FILTERS}
    if "dataset_id" in request.args:
        filters["dataset_id"] = int_arg("dataset_id", 0, 0, MAX_ID)
    if "source_map_index" in request.args:
        filters["source_map_index"] = int_arg("source_map_index", -1, -1, MAX_ID)
    store = context.store()
    found, total = store.list_dataset_events(limit, offset, newest_first=order.startswith("-"),
                                             hidden=hidden_dags(), **filters)
    created = store.runs_created_by_events([e.id for e in found])
    return jsonify({"dataset_events": [event_json(e, created.get(e.id, [])) for e in found],
                    "total_entries": total})


def event_json(event: DatasetEvent, runs: list[DagRunRecord]) -> dict[str, Any]:
    """One event as Airflow's ``DatasetEvent`` schema."""
    return {"id": event.id, "dataset_id": event.dataset_id, "dataset_uri": event.uri, "extra": event.extra,
            "source_dag_id": event.source_dag_id, "source_task_id": event.source_task_id,
            "source_run_id": event.source_run_id, "source_map_index": event.source_map_index,
            "timestamp": iso(event.timestamp), "created_dagruns": [_basic_run(run) for run in runs]}


def _basic_run(run: DagRunRecord) -> dict[str, Any]:
    return {"run_id": run.run_id, "dag_id": run.dag_id, "logical_date": iso(run.logical_date),
            "start_date": iso(run.start_date), "end_date": iso(run.end_date), "state": run.state,
            "data_interval_start": iso(run.data_interval_start), "data_interval_end": iso(run.data_interval_end)}
