"""The Datasets pages (Airflow's Datasets view): every dataset, and one dataset with its events.

Owns ``/datasets`` (each dataset's URI, producing tasks, consuming DAGs, last
update and number of events; ``?uri=`` narrows to URIs containing the text; on the
first page, the dataset aliases, each with the datasets it resolved to and the
DAGs scheduled on it, their names narrowed by the same text) and
``/datasets/<id>`` (the dataset, then its events newest first: time, source DAG,
task and run, the extra as JSON, the dataset-triggered runs each made). Both are
paged in SQL, 100 a page. Needs ``read``; what DAGs the user may not see produced,
consumed or ran is left out. An event's extra is shown as stored: escaped by the
template, not masked (as Airflow).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from flowctl.db.web_queries import Page
from flowctl.web import context
from flowctl.web.auth import hidden_dags, requires
from flowctl.web.permissions import Perm

bp = Blueprint("datasets", __name__)
PAGE_SIZE = 100
MAX_ID = 2**31 - 1  # the id column's range: a larger id names no dataset (and PostgreSQL would refuse it)


@bp.route("/datasets")
@requires(Perm.READ)
def datasets() -> Any:
    paging = context.page_args(PAGE_SIZE)
    uri = request.args.get("uri", "").strip()
    store, hidden = context.store(), hidden_dags()
    page = store.dataset_page(uri_pattern=uri, hidden=hidden, offset=paging.offset, limit=paging.size)
    aliases = store.dataset_alias_page(name_pattern=uri, hidden=hidden, limit=PAGE_SIZE) if paging.offset == 0 else None
    return render_template("datasets.html", page=page, aliases=aliases, uri=uri, filters={"uri": uri} if uri else {})


@bp.route("/datasets/<int:dataset_id>")
@requires(Perm.READ)
def dataset(dataset_id: int) -> Any:
    if dataset_id > MAX_ID:
        abort(404, f"no dataset with id {dataset_id}")
    paging = context.page_args(PAGE_SIZE)
    store, hidden = context.store(), hidden_dags()
    summary = store.get_dataset(dataset_id, hidden)  # NotFoundError: a 404 page
    events, total = store.list_dataset_events(paging.size, paging.offset, dataset_id=dataset_id, hidden=hidden)
    created = store.runs_created_by_events([e.id for e in events])
    runs = {event_id: [r for r in made if r.dag_id not in hidden] for event_id, made in created.items()}
    return render_template("dataset.html", dataset=summary, page=Page(tuple(events), total, paging.offset,
                                                                      paging.size),
                           runs=runs, filters={"dataset_id": dataset_id})
