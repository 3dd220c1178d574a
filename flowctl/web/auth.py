"""Logging in and out, the current user, and the permission decorators views use.

Owns the ``auth`` blueprint (``/login``, ``/logout``), :func:`current_user`,
:func:`login_required`, :func:`requires` (a role permission, see
``permissions.py``), :func:`requires_dag` (a permission on the view's
``dag_id``, narrowed by the DAG's ``access_control``), :func:`dag_visible`, :func:`hidden_dags` and
:func:`readable_import_errors`.
Failed logins are audit rows (event ``login_failed``, owner = username,
extra = client address); ``[webserver] login_max_failures`` of them are
allowed within ``login_failure_window_sec``: once that many are counted,
further tries (even with the right password) are refused with 429.
A browser session holds the user's session stamp (``flowctl.db.users``) and is
refused (login page, 401 under /api/) once it changes: a new password, or a
logout, which ends every browser session of that user.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from flowctl.core.errors import DagNotFound
from flowctl.db.records import ImportErrorRecord
from flowctl.db.users import User
from flowctl.db.web_queries import LOGIN_FAILED_EVENT
from flowctl.web import context, security
from flowctl.web.links import local_path
from flowctl.web.permissions import Perm, dag_permissions, hidden_dag_ids, import_error_visible, permissions_of

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_KEY = "flowctl.access_controls"
SESSION_USER = "uid"
SESSION_STAMP = "stamp"

bp = Blueprint("auth", __name__)


def current_user() -> User | None:
    """The logged-in user of this request (None on public pages)."""
    return getattr(g, "user", None)


def user_permissions() -> frozenset[Perm]:
    """What the current user's roles grant."""
    user = current_user()
    return permissions_of(user.roles) if user else frozenset()


def can(perm: Perm | str) -> bool:
    """Whether the current user has this permission (templates use it to hide buttons)."""
    return Perm(perm) in user_permissions()


def login_required(view: F) -> F:
    """Redirect to /login (401 under /api/) unless somebody is logged in."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.path.startswith("/api/"):
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def requires(perm: Perm | str) -> Callable[[F], F]:
    """403 unless the current user's roles grant ``perm``."""
    wanted = Perm(perm)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if wanted not in user_permissions():
                abort(403, description=f"your role does not allow this ({wanted.value})")
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def access_controls() -> dict[str, Any]:
    """{dag_id: access_control} of DAGs that set one; re-read only when a DAG version changes."""
    newest = context.store().newest_serialized_id()
    cached = current_app.extensions.get(ACCESS_KEY)
    if cached is None or cached[0] != newest:
        cached = context.store().access_controls()
        current_app.extensions[ACCESS_KEY] = cached
    return cached[1]  # type: ignore[no-any-return]


def hidden_dags() -> frozenset[str]:
    """DAG ids the current user may not see (filter every list with it)."""
    user = current_user()
    if user is None:
        return frozenset()
    if "hidden" not in g:
        g.hidden = hidden_dag_ids(user.roles, access_controls()) if "Admin" not in user.roles else frozenset()
    return g.hidden  # type: ignore[no-any-return]


def readable_import_errors(errors: Sequence[ImportErrorRecord]) -> list[ImportErrorRecord]:
    """The import errors the current user may read (see :func:`permissions.import_error_visible`)."""
    hidden = hidden_dags()
    if not hidden:
        return list(errors)
    dags_of = context.store().dag_ids_by_file([e.filename for e in errors])
    return [e for e in errors if import_error_visible(dags_of.get(e.filename, ()), hidden)]


def dag_perms(dag_id: str) -> frozenset[Perm]:
    """What the current user may do on this DAG."""
    user = current_user()
    if user is None:
        return frozenset()
    return dag_permissions(user.roles, access_controls().get(dag_id))


def requires_dag(perm: Perm | str) -> Callable[[F], F]:
    """For views with a ``dag_id`` argument: 404 if the user may not see it, 403 if not ``perm``."""
    wanted = Perm(perm)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            perms = dag_perms(str(kwargs["dag_id"]))
            if Perm.READ not in perms:
                abort(404, description=f"DAG {kwargs['dag_id']!r} not found")
            if wanted not in perms:
                abort(403, description=f"your role does not allow this on DAG {kwargs['dag_id']!r}")
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def dag_visible(dag_id: str) -> bool:
    """Whether the current user may see this DAG (a DAG they may not see must look like a missing one)."""
    return Perm.READ in dag_perms(dag_id)


def check_dag_visible(dag_id: str) -> None:
    """404 unless the DAG exists for the current user (for views that take dag_id elsewhere)."""
    if not dag_visible(dag_id):
        raise DagNotFound(f"DAG {dag_id!r} not found")


# --- loading the user for each request ------------------------------------------------------------

def load_user() -> None:
    """before_request: put the session's (or bearer token's) active user on ``g.user``."""
    g.user = None
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme in ("bearer", "basic") and request.path.startswith("/api/"):
        credentials = header[len(scheme):].strip()
        if scheme == "bearer":
            g.user = context.store().verify_api_token(credentials, context.now())
        else:
            g.user = _basic_auth_user(credentials)
        g.token_auth = g.user is not None  # no session cookie: no CSRF token either (see security.py)
        g.auth_scheme = scheme
        return
    uid = session.get(SESSION_USER)
    name = session.get("username")
    if uid is None or not name:
        return
    try:
        user = context.store().get_user(str(name))
    except LookupError:
        session.clear()
        return
    if user.id != uid or not user.active or not session_is_current(user, session.get(SESSION_STAMP)):
        session.clear()
        return
    g.user = user


def session_is_current(user: User, stamp: object) -> bool:
    """Whether a session's stamp is still the user's (constant time; a missing stamp never is)."""
    return isinstance(stamp, str) and bool(stamp) and hmac.compare_digest(stamp, user.session_stamp)


def _basic_auth_user(credentials: str) -> User | None:
    """The user of an API call's ``Authorization: Basic`` (``curl -u name:password``, as Airflow's
    basic_auth backend takes it): the login form's checks, failures audited and rate limited (429)."""
    decoded = security.basic_credentials(credentials)
    if decoded is None or not decoded[0]:
        return None
    name, password = decoded
    address = request.remote_addr or "unknown"
    store, now = context.store(), context.now()
    limit = int(context.settings().get("webserver", "login_max_failures"))
    if login_blocked(store.count_login_failures(name, address, now - _window()), limit):
        abort(429, description="too many failed logins; try again later")
    user = store.authenticate(name, password, now)
    if user is None:
        store.audit(LOGIN_FAILED_EVENT, now=now, source="api", owner=name, extra=address)
    return user


# --- login / logout views --------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a login to another site."""
    return local_path(target) or url_for("home.index")


def login_blocked(failures: int, max_failures: int) -> bool:
    """Whether recent failures use up the allowance of ``max_failures`` (a pure decision): the
    ``max_failures``-th failure is still answered as one, the try after it is refused."""
    return failures >= max_failures


def _window() -> timedelta:
    return timedelta(seconds=float(context.settings().get("webserver", "login_failure_window_sec")))


@bp.route("/login", methods=["GET", "POST"], strict_slashes=False)  # /login/ too
def login() -> Any:
    """The login form; on success the session starts afresh (no fixation)."""
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", next=request.args.get("next", ""))
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    store, now = context.store(), context.now()
    limit = int(context.settings().get("webserver", "login_max_failures"))
    if login_blocked(store.count_login_failures(name, address, now - _window()), limit):
        minutes = max(1, int(_window().total_seconds() // 60))
        return render_template("login.html", next=request.form.get("next", ""),
                               error=f"Too many failed logins. Try again in {minutes} minutes."), 429
    user = store.authenticate(name, password, now) if name and password else None
    if user is None:
        store.audit(LOGIN_FAILED_EVENT, now=now, source="ui", owner=name, extra=address)
        return render_template("login.html", next=request.form.get("next", ""),
                               error="Wrong username or password."), 401
    session.clear()  # a fresh session (and CSRF token) after login: no fixation
    session.permanent = True
    security.csrf_token()
    session[SESSION_USER], session["username"] = user.id, user.username
    session[SESSION_STAMP] = user.session_stamp
    store.audit("login", now=now, source="ui", owner=user.username, extra=address)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """End the session, and every other browser session of this user (POST with CSRF from the menu;
    GET shows a one-button form)."""
    if request.method == "GET":
        return render_template("logout.html")
    user = current_user()
    if user is not None:
        context.store().end_sessions(user.username)
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
