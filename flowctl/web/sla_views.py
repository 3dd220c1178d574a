"""The SLA misses page: every recorded miss (DAG, task, logical date, when, notification sent).

Owns ``/browse/sla-misses`` (``?dag_id=`` narrows to one DAG); paged in SQL; DAGs the user may
not see are left out. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from flowctl.web import context
from flowctl.web.auth import hidden_dags, requires
from flowctl.web.permissions import Perm

bp = Blueprint("sla", __name__)


@bp.route("/browse/sla-misses")
@requires(Perm.READ)
def sla_misses() -> Any:
    paging = context.page_args(50)
    dag_id = request.args.get("dag_id", "").strip()
    page = context.store().sla_miss_page(dag_id=dag_id, hidden=hidden_dags(), offset=paging.offset,
                                         limit=paging.size)
    filters = {"dag_id": dag_id} if dag_id else {}
    return render_template("sla_misses.html", page=page, dag_id=dag_id, filters=filters)
