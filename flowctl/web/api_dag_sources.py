"""JSON API for a DAG file's source, Airflow 2's ``GET /api/v1/dagSources/<file_token>``.

Owns the ``file_token`` of a DAG object (:func:`file_token`: its ``fileloc``
signed with ``[webserver] secret_key``, as Airflow's ``URLSafeSerializer``
token) and the endpoint that reads the file back: text/plain, or
``{"content": ...}`` with ``Accept: application/json`` (406 for anything
else). A token opens only the file of a DAG the user may read: a forged or
foreign token, a path no DAG was parsed from, a DAG hidden by
``access_control`` or a file that is gone are all 404. A blueprint nested in
:mod:`flowctl.web.api`'s (registered there).
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from itsdangerous import BadData, URLSafeSerializer

from flowctl.web import context
from flowctl.web.api_params import check_known_args
from flowctl.web.auth import dag_perms, requires
from flowctl.web.dag_views import read_source
from flowctl.web.permissions import Perm

bp = Blueprint("dag_sources", __name__)
SALT = "flowctl.dagSources"  # a token made for this endpoint means nothing to any other signer of the key
SOURCE_TYPES = ["text/plain", "application/json"]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)  # type: ignore[arg-type]


def file_token(fileloc: str | None) -> str | None:
    """The opaque token of a DAG file (None for a DAG without one)."""
    return _serializer().dumps(fileloc) if fileloc else None


def _fileloc(token: str) -> str:
    """The file a token this server made names; 404 for any other token."""
    try:
        fileloc = _serializer().loads(token)
    except BadData:
        fileloc = None
    if not isinstance(fileloc, str) or not fileloc:
        abort(404, description="no DAG file has this file_token (take it from GET /api/v1/dags/<dag_id>)")
    return fileloc


@bp.route("/dagSources/<file_token>")
@requires(Perm.READ)
def dag_source(file_token: str) -> Any:
    """The source of the DAG file the token names, if the user may read one of its DAGs."""
    check_known_args(())
    fileloc = _fileloc(file_token)
    if not any(Perm.READ in dag_perms(d) for d in context.store().dag_ids_in_file(fileloc)):
        abort(404, description="no DAG file has this file_token (take it from GET /api/v1/dags/<dag_id>)")
    kind = request.accept_mimetypes.best_match(SOURCE_TYPES) if request.accept_mimetypes else SOURCE_TYPES[0]
    if kind is None:
        abort(406, description=f"a DAG's source is sent as {' or '.join(SOURCE_TYPES)} (the Accept header)")
    source, problem = read_source(fileloc)
    if source is None:
        abort(404, description=problem)
    if kind == "application/json":
        return jsonify({"content": source})
    return Response(source, mimetype="text/plain")
