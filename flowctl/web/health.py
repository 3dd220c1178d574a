"""``/health``: is the metadata database reachable, and how old is the scheduler's heartbeat
(healthy within ``[scheduler] scheduler_health_check_threshold`` seconds).

No login (load balancers and monitors call it). JSON in Airflow's shape:
``{"metadatabase": {"status"}, "scheduler": {"status", "latest_scheduler_heartbeat",
"heartbeat_age_seconds"}}``; 503 when the database is down.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify

from flowctl.web import context

bp = Blueprint("health", __name__)


def scheduler_health(latest: datetime | None, now: datetime, threshold_sec: float) -> dict[str, Any]:
    """The scheduler part of the answer (a pure decision over the newest heartbeat)."""
    if latest is None:
        return {"status": "unhealthy", "latest_scheduler_heartbeat": None, "heartbeat_age_seconds": None}
    age = max((now - latest).total_seconds(), 0.0)
    healthy = age <= threshold_sec
    return {"status": "healthy" if healthy else "unhealthy", "latest_scheduler_heartbeat": latest.isoformat(),
            "heartbeat_age_seconds": round(age, 3)}


def health_payload() -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status."""
    store = context.store()
    try:
        store.ping()
        latest = store.latest_heartbeat("scheduler")
    except Exception as exc:  # noqa: BLE001  a process boundary: any database failure is "unhealthy"
        return {"metadatabase": {"status": "unhealthy", "error": type(exc).__name__},
                "scheduler": {"status": "unknown", "latest_scheduler_heartbeat": None,
                              "heartbeat_age_seconds": None}}, 503
    threshold = float(context.settings().get("scheduler", "scheduler_health_check_threshold"))
    return {"metadatabase": {"status": "healthy"},
            "scheduler": scheduler_health(latest, context.now(), threshold)}, 200


@bp.route("/health")
def health() -> Any:
    payload, status = health_payload()
    return jsonify(payload), status
