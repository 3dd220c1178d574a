"""The Flask app factory: ``create_app(settings, store=None) -> Flask``.

Wires the store, settings and clock into the app (see ``context.py``), the
request guards (``security.py``: NUL bytes, login, CSRF, headers), Jinja
(autoescape on for every template), error pages (JSON under ``/api/``) and the
blueprints.
Refuses to build without ``[webserver] secret_key``. The app reads the
database only (serialized DAGs), never imports DAG files.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from flowctl.core.errors import ConfigError, FlowctlError, NotFoundError
from flowctl.settings import Settings
from flowctl.web import auth, context, formatting, links, security, ui_time

HERE = Path(__file__).parent
SESSION_LIFETIME = timedelta(hours=12)
NO_SECRET_KEY = ("[webserver] secret_key is empty: run `flowctl db init` to generate one "
                 "(or set FLOWCTL__WEBSERVER__SECRET_KEY)")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings, store: Any = None, clock: Callable[[], datetime] = utc_now) -> Flask:
    """A configured app on ``store`` (built from settings when None)."""
    secret = str(settings.get("webserver", "secret_key") or "")
    if not secret:
        raise ConfigError(NO_SECRET_KEY)
    if store is None:
        from flowctl.db.store import Store

        store = Store.from_settings(settings)
    app = Flask("flowctl.web", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(
        SECRET_KEY=secret, SESSION_COOKIE_NAME="flowctl_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME, MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.extensions[context.STORE_KEY] = store
    app.extensions[context.SETTINGS_KEY] = settings
    app.extensions[context.CLOCK_KEY] = clock
    _setup_jinja(app)
    app.before_request(security.refuse_unstorable_text)  # first: before any login check or query
    app.before_request(auth.load_user)
    app.before_request(security.enforce_login)
    app.before_request(security.check_csrf)
    app.after_request(security.add_security_headers)
    app.after_request(context.wake_scheduler)
    _register_errors(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from flowctl.web import (admin_views, api, api_admin, api_datasets, api_runs, api_task_instances, browse,
                             dataset_views, health, home, legacy_urls, sla_views)

    for module in (auth, health, home, admin_views, browse, api, api_runs, api_admin, api_datasets, api_task_instances,
                   sla_views, dataset_views, legacy_urls):
        app.register_blueprint(module.bp)
    from flowctl.web.dag_pages import register_dag_pages

    register_dag_pages(app)


def _setup_jinja(app: Flask) -> None:
    app.jinja_env.autoescape = True  # every template, whatever its extension
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(
        dt=ui_time.format_dt, input_time=ui_time.format_input, iso=formatting.format_iso,
        duration=formatting.format_duration,
        state_class=formatting.state_class, pretty_json=formatting.to_json, xcom_json=formatting.format_xcom,
    )
    app.jinja_env.globals.update(
        dag_url=links.dag_url, run_url=links.run_url, ti_url=links.ti_url,
        csrf_token=security.csrf_token, current_user=auth.current_user, can=auth.can,
        TI_STATES=formatting.TI_STATES, RUN_STATES=formatting.RUN_STATES,
        run_duration=lambda start, end: formatting.run_duration(start, end, context.now()),
        ui_timezone=ui_time.zone_name, ui_timezone_choices=ui_time.zone_choices,
    )


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/health"


def _error_response(code: int, title: str, message: str) -> Any:
    if _wants_json():
        return jsonify({"status": code, "title": title, "detail": message}), code
    return render_template("error.html", code=code, title=title, message=message), code


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        response = make_response(_error_response(exc.code or 500, exc.name, exc.description or exc.name))
        for name, value in exc.get_headers():  # e.g. a 401's WWW-Authenticate challenge
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError) -> Any:  # a JSON body nested thousands deep, from any client
        return _error_response(400, "Bad Request", "the request's JSON is nested too deeply")

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError) -> Any:
        return _error_response(404, "Not Found", str(exc.args[0]) if exc.args else str(exc))

    @app.errorhandler(FlowctlError)
    def bad_request(exc: FlowctlError) -> Any:
        return _error_response(400, "Bad Request", str(exc.args[0]) if exc.args else str(exc))
