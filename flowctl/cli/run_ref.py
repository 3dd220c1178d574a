"""Which run an ``EXECUTION_DATE_OR_RUN_ID`` argument names: a run id, else a logical date.

Airflow 2's CLI takes either form wherever a command acts on one run; every
flowctl command that does resolves it here, so all read it alike: the run_id
of an existing run of the DAG wins (a run id may look like a date); otherwise
an ISO date or date-time, read as ``dags trigger --logical-date`` reads it
(naive: ``[core] default_timezone``), names the run at exactly that logical
date (a DAG has at most one). Imported by the ``dags`` and ``tasks`` commands only.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from flowctl.cli.app import CliContext
from flowctl.cli.run_cmd import parse_moment
from flowctl.core.errors import DagRunNotFound

#: The argument's name in usage lines, as in Airflow 2's CLI.
METAVAR = "EXECUTION_DATE_OR_RUN_ID"


def resolve_run(ctx: CliContext, dag_id: str, ref: str) -> Any:
    """The run of ``dag_id`` with run_id ``ref``, else the one at logical date ``ref``; DagRunNotFound names both."""
    run = find_run(ctx.store, dag_id, ref)
    if run is None:
        when = date_or_none(ref, ctx)
        run = run_at(ctx.store, dag_id, when) if when is not None else None
    if run is None:
        raise DagRunNotFound(f"no run of DAG {dag_id!r} with run_id or logical date {ref!r}")
    return run


def find_run(store: Any, dag_id: str, run_id: str) -> Any:
    """The run of ``dag_id`` with this run_id, or None."""
    try:
        return store.get_run(dag_id, run_id)
    except DagRunNotFound:
        return None


def date_or_none(text: str, ctx: CliContext) -> datetime | None:
    """``text`` as an aware date-time (see :func:`parse_moment`), or None if it is not an ISO date."""
    try:
        return parse_moment(text, ctx)
    except click.BadParameter:
        return None


def run_at(store: Any, dag_id: str, when: datetime) -> Any:
    """The run of ``dag_id`` at exactly logical date ``when``, or None."""
    from flowctl.db.web_queries import RunQuery

    found = store.run_page(RunQuery(dag_id=dag_id, start=when, end=when, limit=1)).items
    return found[0] if found else None
