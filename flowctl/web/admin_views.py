"""Admin pages: variables, connections (passwords write-only), pools, users, and the audit log.

Owns ``/admin/variables``, ``/admin/connections``, ``/admin/pools``,
``/admin/users`` and ``/audit`` with their POST actions. Ops (and admins)
manage variables, connections and pools; only admins manage users; every
change is audit-logged by name, never with a value or password. Connection
passwords are never sent to the browser: an empty password field keeps the
stored one; a connection form the checks refuse (an id the API would refuse, a bad port or
extra) comes back as typed, with the reason, and nothing is saved.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from flowctl.core.connection import Connection, check_conn_id, check_port, restore_redacted
from flowctl.core.errors import FlowctlError
from flowctl.core.masking import should_mask
from flowctl.db.admin import MAX_SLOTS
from flowctl.db.audit import EventLogQuery
from flowctl.db.users import STANDARD_ROLES, NewUser
from flowctl.web import context
from flowctl.web.auth import current_user, hidden_dags, requires
from flowctl.web.permissions import Perm

bp = Blueprint("admin", __name__)


def _field(name: str) -> str | None:
    value = request.form.get(name, "").strip()
    return value or None


def _done(message: str, endpoint: str) -> Any:
    flash(message, "success")
    return redirect(url_for(endpoint))


# --- variables -----------------------------------------------------------------------------------

@bp.route("/admin/variables")
@requires(Perm.CONFIG)
def variables() -> Any:
    return _variables_page()


def _variables_page(error: str | None = None) -> Any:
    """The list and its form; with ``error``, the form as typed and the reason (a 400)."""
    rows = [(v, should_mask(v.key)) for v in context.store().list_variables()]
    html = render_template("admin/variables.html", rows=rows, error=error, form=request.form if error else {})
    return (html, 400) if error else html


@bp.route("/admin/variables", methods=["POST"])
@requires(Perm.CONFIG)
def set_variable() -> Any:
    key = request.form.get("key", "").strip()
    if not key:
        return _variables_page("a variable needs a key")
    context.store().set_variable(key, request.form.get("val", ""), _field("description"))
    context.audit("variable.set", extra={"key": key})
    return _done(f"Variable {key} saved.", "admin.variables")


@bp.route("/admin/variables/<path:key>/delete", methods=["POST"])
@requires(Perm.CONFIG)
def delete_variable(key: str) -> Any:
    if not context.store().delete_variable(key):
        abort(404, description=f"variable {key!r} does not exist")
    context.audit("variable.delete", extra={"key": key})
    return _done(f"Variable {key} deleted.", "admin.variables")


# --- connections -----------------------------------------------------------------------------------

@bp.route("/admin/connections")
@requires(Perm.CONFIG)
def connections() -> Any:
    """The list; ``?edit=CONN_ID`` fills the form with that connection (its secrets masked)."""
    listed = context.store().list_connections()
    wanted = request.args.get("edit", "")
    editing = next((c.redacted() for c in listed if c.conn_id == wanted), None)
    return render_template("admin/connections.html", connections=listed, editing=editing, error=None)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def connection_from_form(form: Any, existing: Connection | None) -> Connection:
    """The connection a form describes; an empty password keeps ``existing``'s (write-only field)."""
    port_text = (form.get("port") or "").strip()
    try:
        port = int(port_text) if port_text else None
    except ValueError:
        raise FlowctlError(f"port must be a number, not {port_text!r}") from None
    check_conn_id(form.get("conn_id", "").strip())  # the API's rule: a connection saved here is reachable there
    check_port(form.get("conn_id", "").strip(), port)
    extra = (form.get("extra") or "").strip() or None
    if extra is not None and not isinstance(_json_or_none(extra), dict):
        raise FlowctlError("extra must be a JSON object, e.g. {\"timeout\": 30}")
    conn = Connection(conn_id=form.get("conn_id", "").strip(), conn_type=(form.get("conn_type") or "").strip() or None,
                      host=(form.get("host") or "").strip() or None, login=(form.get("login") or "").strip() or None,
                      schema=(form.get("schema") or "").strip() or None, port=port,
                      extra=extra,
                      description=(form.get("description") or "").strip() or None)
    if existing is not None and existing.extra and conn.extra:  # masked secrets left as shown keep their value
        conn = replace(conn, extra=json.dumps(restore_redacted(json.loads(conn.extra), existing.extra_dejson)))
    password = form.get("password") or ""
    if password:
        return replace(conn, password=password)
    if existing is not None and not form.get("clear_password"):
        return replace(conn, password=existing.password)
    return conn


@bp.route("/admin/connections", methods=["POST"])
@requires(Perm.CONFIG)
def set_connection() -> Any:
    conn_id = request.form.get("conn_id", "").strip()
    if not conn_id or not request.form.get("conn_type", "").strip():
        abort(400, description="a connection needs a conn_id and a conn_type")
    store = context.store()
    listed = store.list_connections()
    existing = next((c for c in listed if c.conn_id == conn_id), None)
    try:
        conn = connection_from_form(request.form, existing)
    except FlowctlError as exc:  # the form again, as typed (never its password), with the reason
        return render_template("admin/connections.html", connections=listed, editing=request.form,
                               error=str(exc)), 400
    store.upsert_connection(conn)
    context.audit("connection.set", extra={"conn_id": conn_id})
    return _done(f"Connection {conn_id} saved.", "admin.connections")


@bp.route("/admin/connections/<path:conn_id>/delete", methods=["POST"])
@requires(Perm.CONFIG)
def delete_connection(conn_id: str) -> Any:
    if not context.store().delete_connection(conn_id):
        abort(404, description=f"connection {conn_id!r} does not exist")
    context.audit("connection.delete", extra={"conn_id": conn_id})
    return _done(f"Connection {conn_id} deleted.", "admin.connections")


# --- pools ---------------------------------------------------------------------------------------

@bp.route("/admin/pools")
@requires(Perm.READ)
def pools() -> Any:
    return _pools_page()


def _pools_page(error: str | None = None) -> Any:
    """The pools and the form; with ``error``, the form as typed and the reason (a 400)."""
    store = context.store()
    described = {p.name: p for p in store.list_pools()}
    html = render_template("admin/pools.html", usage=store.pool_usage(), described=described, error=error,
                           form=request.form if error else {})
    return (html, 400) if error else html


@bp.route("/admin/pools", methods=["POST"])
@requires(Perm.CONFIG)
def set_pool() -> Any:
    name = request.form.get("pool", "").strip()
    try:
        slots = int(request.form.get("slots", ""))
    except ValueError:
        return _pools_page("slots must be a whole number (-1 for unlimited)")
    if not -1 <= slots <= MAX_SLOTS:
        return _pools_page(f"slots must be from -1 (unlimited) to {MAX_SLOTS}")
    try:
        context.store().set_pool(name, slots, _field("description"),
                                 include_deferred=bool(request.form.get("include_deferred")))
    except FlowctlError as exc:  # e.g. an empty name
        return _pools_page(str(exc))
    context.audit("pool.set", extra={"pool": name, "slots": slots})
    return _done(f"Pool {name} saved.", "admin.pools")


@bp.route("/admin/pools/<path:name>/delete", methods=["POST"])
@requires(Perm.CONFIG)
def delete_pool(name: str) -> Any:
    if not context.store().delete_pool(name):
        abort(404, description=f"pool {name!r} does not exist")
    context.audit("pool.delete", extra={"pool": name})
    return _done(f"Pool {name} deleted.", "admin.pools")


# --- users ---------------------------------------------------------------------------------------

@bp.route("/admin/users")
@requires(Perm.USERS)
def users() -> Any:
    return render_template("admin/users.html", users=context.store().list_users(), roles=STANDARD_ROLES)


@bp.route("/admin/users", methods=["POST"])
@requires(Perm.USERS)
def create_user() -> Any:
    role = request.form.get("role", "Viewer")
    if role not in STANDARD_ROLES:
        abort(400, description=f"role must be one of {', '.join(STANDARD_ROLES)}")
    new = NewUser(username=request.form.get("username", "").strip(), email=_field("email"),
                  first_name=_field("first_name"), last_name=_field("last_name"), role=role)
    if not new.username:
        abort(400, description="a user needs a username")
    context.store().create_user(new, request.form.get("password", ""), context.now())
    context.audit("user.create", extra={"username": new.username, "role": role})
    return _done(f"User {new.username} created.", "admin.users")


@bp.route("/admin/users/<username>/role", methods=["POST"])
@requires(Perm.USERS)
def add_role(username: str) -> Any:
    role = request.form.get("role", "")
    if role not in STANDARD_ROLES:
        abort(400, description=f"role must be one of {', '.join(STANDARD_ROLES)}")
    context.store().add_role(username, role)
    context.audit("user.add_role", extra={"username": username, "role": role})
    return _done(f"{username} now has the role {role}.", "admin.users")


@bp.route("/admin/users/<username>/delete", methods=["POST"])
@requires(Perm.USERS)
def delete_user(username: str) -> Any:
    user = current_user()
    if user is not None and user.username == username:
        abort(400, description="you cannot delete yourself")
    if not context.store().delete_user(username):
        abort(404, description=f"user {username!r} does not exist")
    context.audit("user.delete", extra={"username": username})
    return _done(f"User {username} deleted.", "admin.users")


# --- audit log -----------------------------------------------------------------------------------

@bp.route("/audit")
@requires(Perm.READ)
def audit() -> Any:
    """Audit rows, newest first, filtered by DAG, event and who; as ``/api/v1/eventLogs``, without the
    rows of DAGs the user may not see."""
    paging = context.page_args(50)
    filters = {k: request.args.get(k, "").strip() for k in ("dag_id", "event", "owner")}
    query = EventLogQuery(**filters, hidden=hidden_dags(), order_by="dttm", descending=True,
                          offset=paging.offset, limit=paging.size)
    page = context.store().event_log_page(query)  # the rows of DAGs the user may not see left out
    return render_template("audit.html", page=page, filters={k: v for k, v in filters.items() if v})
