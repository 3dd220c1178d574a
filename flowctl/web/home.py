"""The home page (every DAG, filtered and paged in SQL), pausing a DAG, and the import errors.

Owns ``/``, ``POST /dags/<dag_id>/pause`` and ``/import-errors``.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from flowctl.db.web_queries import DagQuery
from flowctl.web import context
from flowctl.web.auth import hidden_dags, readable_import_errors, requires, requires_dag
from flowctl.web.formatting import RUN_STATES
from flowctl.web.links import local_path
from flowctl.web.permissions import Perm

bp = Blueprint("home", __name__)
STATUSES = ("all", "active", "paused")
TAGS_KEY = "flowctl.dag_tags"


def dag_tags() -> list[str]:
    """Every tag, re-read only when some DAG's serialized version changed (tags change only then)."""
    newest = context.store().newest_serialized_id()
    cached = current_app.extensions.get(TAGS_KEY)
    if cached is None or cached[0] != newest:
        cached = (newest, context.store().dag_tags())
        current_app.extensions[TAGS_KEY] = cached
    return cached[1]  # type: ignore[no-any-return]


def dag_query_from(args: Any, hidden: frozenset[str], offset: int, limit: int) -> DagQuery:
    """The home filters from a query string (unknown values ignored)."""
    status = args.get("status", "all")
    last = args.get("last_run_state", "")
    return DagQuery(search=args.get("search", "").strip(), tag=args.get("tag", "").strip(),
                    status=status if status in STATUSES else "all",
                    last_run_state=last if last in RUN_STATES else "", hidden=hidden,
                    offset=offset, limit=limit)


def status_counts(query: DagQuery) -> dict[str, int]:
    """How many DAGs each status button would list: the query's other filters kept."""
    store = context.store()
    if not (query.search or query.tag or query.last_run_state):
        return store.dag_status_counts(query.hidden)  # one grouped count
    return {status: store.dag_page(replace(query, status=status, offset=0, limit=0)).total for status in STATUSES}


@bp.route("/")
@requires(Perm.READ)
def index() -> Any:
    paging = context.page_args(25)
    hidden = hidden_dags()
    query = dag_query_from(request.args, hidden, paging.offset, paging.size)
    store = context.store()
    page = store.dag_page(query)
    if page.total and query.offset >= page.total:  # past the end (a bookmark, a filter that narrowed): the last page
        query = replace(query, offset=(page.total - 1) // query.limit * query.limit)
        page = store.dag_page(query)
    filters = {k: v for k, v in (("search", query.search), ("tag", query.tag), ("status", query.status),
                                 ("last_run_state", query.last_run_state)) if v and v != "all"}
    errors = readable_import_errors(store.list_import_errors())
    return render_template(
        "home.html", page=page, query=query, filters=filters, status_counts=status_counts(query),
        tags=dag_tags(), import_error_count=len(errors), now=context.now())


def _back(default: str) -> str:
    return local_path(request.form.get("next")) or default


@bp.route("/dags/<dag_id>/pause", methods=["POST"])
@requires_dag(Perm.DAG_EDIT)
def pause(dag_id: str) -> Any:
    """Pause (``is_paused=true``) or unpause (``false``); without the field, toggle."""
    store = context.store()
    raw = request.form.get("is_paused")
    paused = (not store.get_dag(dag_id).is_paused) if raw is None else raw.lower() in ("1", "true", "on", "yes")
    store.set_paused(dag_id, paused)
    context.audit("pause" if paused else "unpause", dag_id=dag_id)
    flash(f"DAG {dag_id} is {'paused' if paused else 'unpaused'}.", "success")
    return redirect(_back(url_for("home.index")))


@bp.route("/import-errors")
@requires(Perm.READ)
def import_errors() -> Any:
    errors = readable_import_errors(context.store().list_import_errors())
    return render_template("import_errors.html", errors=errors)
