"""JSON API under ``/api/v1`` for the admin resources, in Airflow 2's REST shapes.

Owns ``/variables`` and ``/variables/<key>`` (keys may hold ``/``), ``/connections``
and ``/connections/<connection_id>``, ``/pools`` and ``/pools/<name>`` (GET list,
GET one, POST, PATCH with ``update_mask`` and renaming, DELETE answering 204), ``GET /version``,
``GET /config`` (403 unless ``[webserver] expose_config``), ``GET /eventLogs``
and ``GET /eventLogs/<id>``. Lists are paged (``limit``, ``offset``) and sorted
(``order_by``, ``-`` first for descending) and answer ``{"<things>": [...],
"total_entries": n}``; an unknown query parameter is a 400 naming it. Reading variables and connections needs what the admin
pages need (``config``), pools, event logs and the version only ``read``;
every change needs ``config`` and is audited (source ``api``) by name, never
with a value or password. Secrets never leave: connection passwords are
write-only, values of secret-named variables and extra keys read ``***``.
Request parsing lives in :mod:`flowctl.web.api_admin_params`.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, jsonify, make_response, request

import flowctl
from flowctl.core.connection import Connection, check_conn_id, redact_extra, restore_redacted
from flowctl.core.errors import AlreadyExistsError
from flowctl.core.masking import REDACTED, should_mask
from flowctl.db.admin import DEFAULT_POOL, Pool, PoolUsage, VariableRecord
from flowctl.db.audit import EventLogQuery
from flowctl.db.records import AuditRecord
from flowctl.settings import OPTIONS
from flowctl.web import context
from flowctl.web.api_admin_params import (
    changes_of, check_types, is_bool, is_int, is_text, is_text_or_null, masked_value, order_arg, page_of, paging,
    update_mask,
)
from flowctl.web.api_params import PAGING, bad, check_known_args, int_arg, json_body, list_arg, map_index_arg
from flowctl.web.api_shapes import iso
from flowctl.web.auth import check_dag_visible, hidden_dags, requires
from flowctl.web.browse import parse_when
from flowctl.web.permissions import Perm

bp = Blueprint("api_admin", __name__, url_prefix="/api/v1")
LIST_ARGS = PAGING | {"order_by"}


def _no_content() -> Any:
    return make_response("", 204)


# --- variables ---------------------------------------------------------------------------------------

VARIABLE_TYPES = {"key": is_text, "value": is_text, "description": is_text_or_null}
VARIABLE_ORDER = {"key": "key", "description": "description"}


def variable_json(var: VariableRecord) -> dict[str, Any]:
    return {"key": var.key, "value": masked_value(var.key, var.val), "description": var.description}


@bp.route("/variables")
@requires(Perm.CONFIG)
def variables() -> Any:
    check_known_args(LIST_ARGS)
    order, page = order_arg(VARIABLE_ORDER, "key"), paging()
    every = context.store().list_variables()
    return jsonify({"variables": [variable_json(v) for v in page_of(every, order, page)],
                    "total_entries": len(every)})


@bp.route("/variables/<path:key>")
@requires(Perm.CONFIG)
def get_variable(key: str) -> Any:
    check_known_args(())
    return jsonify(variable_json(context.store().get_variable_record(key)))  # VariableNotFound -> 404


def _masked_sent_back(key: str, value: Any) -> bool:
    """Whether ``value`` is the ``***`` GET shows for a secret variable, sent back: the stored value stays."""
    return value == REDACTED and should_mask(key)


@bp.route("/variables", methods=["POST"])
@requires(Perm.CONFIG)
def post_variable() -> Any:
    """Create or replace a variable, as Airflow 2's ``Variable.set`` behind this call does."""
    check_known_args(())
    body = json_body(VARIABLE_TYPES)
    check_types(body, VARIABLE_TYPES, required=("key", "value"))
    store = context.store()
    key, value = body["key"], body["value"]
    if _masked_sent_back(key, value):
        try:
            value = store.get_variable(key)
        except LookupError:  # no such variable yet: *** is what it gets
            pass
    store.set_variable(key, value, body.get("description"))  # empty or long key -> 400
    context.audit("variable.set", extra={"key": key})
    return jsonify(variable_json(store.get_variable_record(body["key"])))


@bp.route("/variables/<path:key>", methods=["PATCH"])
@requires(Perm.CONFIG)
def patch_variable(key: str) -> Any:
    check_known_args({"update_mask"})
    body = json_body(VARIABLE_TYPES)
    check_types(body, VARIABLE_TYPES)
    if "key" in body and body["key"] != key:
        bad("the key in the body does not match the one in the URL (a key cannot be changed)")
    changes = changes_of(body, update_mask(("value", "description")), ("value", "description"))
    if "value" in changes and _masked_sent_back(key, changes["value"]):
        del changes["value"]
    var = context.store().update_variable(key, changes)  # VariableNotFound -> 404
    context.audit("variable.set", extra={"key": key})
    return jsonify(variable_json(var))


@bp.route("/variables/<path:key>", methods=["DELETE"])
@requires(Perm.CONFIG)
def delete_variable(key: str) -> Any:
    check_known_args(())
    if not context.store().delete_variable(key):
        abort(404, description=f"variable {key!r} does not exist")
    context.audit("variable.delete", extra={"key": key})
    return _no_content()


# --- connections -------------------------------------------------------------------------------------

CONNECTION_UPDATABLE = ("conn_type", "description", "host", "login", "schema", "port", "extra", "password")
CONNECTION_TYPES = {"connection_id": is_text, "conn_type": is_text, "description": is_text_or_null,
                    "host": is_text_or_null, "login": is_text_or_null, "schema": is_text_or_null,
                    "port": lambda v: v is None or is_int(v),
                    "extra": lambda v: v is None or isinstance(v, (str, dict)),
                    "password": is_text_or_null}
CONNECTION_ORDER = {"connection_id": "conn_id", "conn_type": "conn_type", "description": "description",
                    "host": "host", "port": "port", "login": "login", "schema": "schema"}


def connection_json(conn: Connection) -> dict[str, Any]:
    """A connection as Airflow's API shows one: never its password; secrets in extra masked."""
    return {**connection_item_json(conn), "extra": redact_extra(conn.extra)}


def connection_item_json(conn: Connection) -> dict[str, Any]:
    """A connection in a list (Airflow's collection item: no extra, no password)."""
    return {"connection_id": conn.conn_id, "conn_type": conn.conn_type, "description": conn.description,
            "host": conn.host, "login": conn.login, "schema": conn.schema, "port": conn.port}


def _extra_text(value: str | dict[str, Any] | None) -> str | None:
    """Extra as stored: JSON text of an object (an object is accepted too); 400 for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return json.dumps(value)
    try:
        parsed = json.loads(value)
    except ValueError:
        bad("extra must be a JSON object (as text), e.g. '{\"region\": \"eu-west-1\"}'")
    if not isinstance(parsed, dict):
        bad("extra must be a JSON object (as text), not another JSON value")
    return value


def _connection_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    check_types(body, CONNECTION_TYPES)
    if "port" in body and body["port"] is not None and not 1 <= body["port"] <= 65535:
        bad("port must be a whole number from 1 to 65535")
    out = {name: body[name] for name in CONNECTION_UPDATABLE if name in body}
    if "extra" in out:
        out["extra"] = _extra_text(out["extra"])
    if "conn_type" in out and not out["conn_type"].strip():
        bad("conn_type must not be empty")
    return out


@bp.route("/connections")
@requires(Perm.CONFIG)
def connections() -> Any:
    check_known_args(LIST_ARGS)
    order, page = order_arg(CONNECTION_ORDER, "connection_id"), paging()
    every = context.store().list_connections()
    return jsonify({"connections": [connection_item_json(c) for c in page_of(every, order, page)],
                    "total_entries": len(every)})


@bp.route("/connections/<connection_id>")
@requires(Perm.CONFIG)
def get_connection(connection_id: str) -> Any:
    check_known_args(())
    return jsonify(connection_json(context.store().get_connection(connection_id)))  # 404 when missing


@bp.route("/connections", methods=["POST"])
@requires(Perm.CONFIG)
def post_connection() -> Any:
    check_known_args(())
    body = json_body(CONNECTION_TYPES)
    check_types(body, CONNECTION_TYPES, required=("connection_id", "conn_type"))
    conn_id = body["connection_id"]
    check_conn_id(conn_id)  # ConnectionFormatError -> 400
    conn = Connection(conn_id=conn_id, **_connection_changes(body))
    try:
        context.store().add_connection(conn)
    except AlreadyExistsError as exc:
        abort(409, description=str(exc))
    context.audit("connection.set", extra={"conn_id": conn_id})
    return jsonify(connection_json(conn))


@bp.route("/connections/<connection_id>", methods=["PATCH"])
@requires(Perm.CONFIG)
def patch_connection(connection_id: str) -> Any:
    check_known_args({"update_mask"})
    body = json_body(CONNECTION_TYPES)
    if "connection_id" in body and body["connection_id"] != connection_id:
        bad("the connection_id cannot be updated (it differs from the one in the URL)")
    mask = update_mask(CONNECTION_UPDATABLE)
    changes = _connection_changes(changes_of(body, mask, CONNECTION_UPDATABLE))
    if changes.get("extra"):  # the extra as GET showed it: its *** keep the stored secrets
        stored = context.store().get_connection(connection_id).extra_dejson  # ConnectionNotFound -> 404
        changes["extra"] = json.dumps(restore_redacted(json.loads(changes["extra"]), stored))
    conn = context.store().update_connection(connection_id, changes)  # ConnectionNotFound -> 404
    context.audit("connection.set", extra={"conn_id": connection_id})
    return jsonify(connection_json(conn))


@bp.route("/connections/<connection_id>", methods=["DELETE"])
@requires(Perm.CONFIG)
def delete_connection(connection_id: str) -> Any:
    check_known_args(())
    if not context.store().delete_connection(connection_id):
        abort(404, description=f"the conn_id {connection_id!r} is not defined")
    context.audit("connection.delete", extra={"conn_id": connection_id})
    return _no_content()


# --- pools ---------------------------------------------------------------------------------------------

POOL_TYPES = {"name": is_text, "slots": is_int, "description": is_text_or_null, "include_deferred": is_bool}
POOL_UPDATABLE = ("slots", "description", "include_deferred")
POOL_ORDER = {"name": "name", "slots": "slots", "description": "description"}


def pool_json(pool: Pool, usage: PoolUsage | None) -> dict[str, Any]:
    """Airflow's pool fields; ``open_slots`` is null for an unlimited pool (slots -1)."""
    running, queued, deferred = (usage.running, usage.queued, usage.deferred) if usage else (0, 0, 0)
    return {"name": pool.name, "slots": pool.slots, "occupied_slots": usage.occupied if usage else 0,
            "running_slots": running, "queued_slots": queued,
            "scheduled_slots": usage.scheduled if usage else 0, "deferred_slots": deferred,
            "open_slots": usage.open_slots if usage else (None if pool.slots == -1 else pool.slots),
            "description": pool.description, "include_deferred": pool.include_deferred}


def _pool_response(pool: Pool) -> Any:
    usage = next((u for u in context.store().pool_usage() if u.pool == pool.name), None)
    return jsonify(pool_json(pool, usage))


@bp.route("/pools")
@requires(Perm.READ)
def pools() -> Any:
    check_known_args(LIST_ARGS)
    order, page = order_arg(POOL_ORDER, "name"), paging()
    store = context.store()
    every = store.list_pools()
    usage = {u.pool: u for u in store.pool_usage()}
    return jsonify({"pools": [pool_json(p, usage.get(p.name)) for p in page_of(every, order, page)],
                    "total_entries": len(every)})


@bp.route("/pools/<path:name>")
@requires(Perm.READ)
def get_pool(name: str) -> Any:
    check_known_args(())
    return _pool_response(context.store().get_pool(name))  # PoolNotFound -> 404


@bp.route("/pools", methods=["POST"])
@requires(Perm.CONFIG)
def post_pool() -> Any:
    check_known_args(())
    body = json_body(POOL_TYPES)
    check_types(body, POOL_TYPES, required=("name", "slots"))
    try:  # slots out of range, empty or long name -> FlowctlError -> 400
        pool = context.store().add_pool(body["name"], body["slots"], body.get("description"),
                                        include_deferred=bool(body.get("include_deferred", False)))
    except AlreadyExistsError as exc:
        abort(409, description=str(exc))
    context.audit("pool.set", extra={"pool": pool.name, "slots": pool.slots})
    return _pool_response(pool)


@bp.route("/pools/<path:name>", methods=["PATCH"])
@requires(Perm.CONFIG)
def patch_pool(name: str) -> Any:
    """Change a pool; a ``name`` that differs from the URL's renames it (unless ``update_mask`` leaves
    ``name`` out), and its unfinished task instances with it."""
    check_known_args({"update_mask"})
    body = json_body(POOL_TYPES)
    check_types(body, POOL_TYPES)
    renamed = "name" in body and body["name"] != name
    if renamed and name == DEFAULT_POOL:
        bad(f"{DEFAULT_POOL} cannot be renamed (the name in the body differs from the one in the URL)")
    mask = update_mask(("name", *POOL_UPDATABLE))
    renamed = renamed and (mask is None or "name" in mask)
    changes = changes_of(body, mask, ("name", *POOL_UPDATABLE) if renamed else POOL_UPDATABLE)
    try:  # PoolNotFound -> 404, bad slots or name -> 400
        pool = context.store().update_pool(name, changes)
    except AlreadyExistsError as exc:
        abort(409, description=str(exc))
    extra = {"pool": pool.name, "slots": pool.slots, **({"renamed_from": name} if renamed else {})}
    context.audit("pool.set", extra=extra)
    return _pool_response(pool)


@bp.route("/pools/<path:name>", methods=["DELETE"])
@requires(Perm.CONFIG)
def delete_pool(name: str) -> Any:
    check_known_args(())
    if name == DEFAULT_POOL:
        bad(f"{DEFAULT_POOL} cannot be deleted (set its slots instead)")
    if not context.store().delete_pool(name):
        abort(404, description=f"pool {name!r} does not exist")
    context.audit("pool.delete", extra={"pool": name})
    return _no_content()


# --- version and configuration -----------------------------------------------------------------------

HIDDEN = "< hidden >"
CONFIG_HIDDEN = ("Your flowctl administrator chose not to expose the configuration, most likely for "
                 "security reasons ([webserver] expose_config).")


@bp.route("/version")
@requires(Perm.READ)
def version() -> Any:
    check_known_args(())
    return jsonify({"version": flowctl.__version__, "git_version": None})


def _config_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@bp.route("/config")
@requires(Perm.CONFIG)
def config() -> Any:
    """Every option's effective value (secrets as ``< hidden >``, always), by section; ``?section=``."""
    check_known_args({"section"})
    settings = context.settings()
    if not settings.get("webserver", "expose_config"):
        abort(403, description=CONFIG_HIDDEN)
    wanted = request.args.get("section", "").strip().lower()
    sections: dict[str, list[dict[str, str]]] = {}
    for opt in OPTIONS:
        if wanted and opt.section != wanted:
            continue
        value = settings.get(opt.section, opt.key)
        shown = HIDDEN if opt.secret and value else _config_text(value)
        sections.setdefault(opt.section, []).append({"key": opt.key, "value": shown})
    if wanted and not sections:
        abort(404, description=f"there is no section [{wanted}]")
    return jsonify({"sections": [{"name": name, "options": options} for name, options in sections.items()]})


# --- event logs (the audit log) -----------------------------------------------------------------------

MAX_EVENT_LOG_ID = 2**31 - 1  # the id column is a 32-bit INTEGER on PostgreSQL
EVENT_LOG_ORDER = {"event_log_id": "id", "when": "dttm", "dag_id": "dag_id", "task_id": "task_id",
                   "run_id": "run_id", "event": "event", "owner": "owner"}


def event_log_json(row: AuditRecord) -> dict[str, Any]:
    """Airflow's event log fields (flowctl keeps no execution_date: null) plus flowctl's ``source``."""
    return {"event_log_id": row.id, "when": iso(row.dttm), "dag_id": row.dag_id, "task_id": row.task_id,
            "run_id": row.run_id, "map_index": row.map_index, "try_number": row.try_number, "event": row.event,
            "execution_date": None, "owner": row.owner, "extra": row.extra, "source": row.source}


EVENT_LOG_TEXT = ("dag_id", "task_id", "run_id", "event", "owner")
EVENT_LOG_ARGS = LIST_ARGS | {*EVENT_LOG_TEXT, "map_index", "try_number", "before", "after", "included_events",
                              "excluded_events"}
MAX_TRY_NUMBER = 2**31 - 1  # an INTEGER column, as the id


@bp.route("/eventLogs")
@requires(Perm.READ)
def event_logs() -> Any:
    """Audit rows filtered as Airflow's: equal text fields, ``map_index``, ``try_number``, ``after`` < when <
    ``before``, and ``included_events`` / ``excluded_events`` (comma-separated or repeated)."""
    check_known_args(EVENT_LOG_ARGS)
    order, page = order_arg(EVENT_LOG_ORDER, "event_log_id"), paging()
    args = request.args
    query = EventLogQuery(**{name: args.get(name, "").strip() for name in EVENT_LOG_TEXT},
                          map_index=map_index_arg() if "map_index" in args else None,
                          try_number=int_arg("try_number", 0, 0, MAX_TRY_NUMBER) if "try_number" in args else None,
                          included_events=list_arg("included_events"), excluded_events=list_arg("excluded_events"),
                          before=parse_when(args.get("before")),  # bad date -> 400
                          after=parse_when(args.get("after")), hidden=hidden_dags(),
                          order_by=order.attribute, descending=order.descending,
                          offset=page.offset, limit=page.limit)
    found = context.store().event_log_page(query)
    return jsonify({"event_logs": [event_log_json(r) for r in found.items], "total_entries": found.total})


@bp.route("/eventLogs/<int:event_log_id>")
@requires(Perm.READ)
def get_event_log(event_log_id: int) -> Any:
    check_known_args(())
    if event_log_id > MAX_EVENT_LOG_ID:
        abort(404, description=f"event log {event_log_id} not found")
    row = context.store().get_audit(event_log_id)  # NotFoundError -> 404
    if row.dag_id:
        try:
            check_dag_visible(row.dag_id)
        except LookupError:  # a row of a DAG this user may not see does not exist for them
            abort(404, description=f"event log {event_log_id} not found")
    return jsonify(event_log_json(row))
