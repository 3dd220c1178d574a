"""JSON API under ``/api/v1`` for task instances, in Airflow 2's REST shapes (being built).

Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_task_instances", __name__, url_prefix="/api/v1")
