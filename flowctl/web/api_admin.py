"""JSON API under ``/api/v1`` for the admin resources, in Airflow 2's REST shapes (being built).

Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_admin", __name__, url_prefix="/api/v1")
