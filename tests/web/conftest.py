"""Fixtures for the web tests: settings, a fixed clock, the app, users per role, logged-in clients.

``app`` is ``create_app(settings, store, clock)`` on a migrated SQLite file of
the test's own; ``seeded`` stores the example DAG with real runs (see
``webdata.py``); ``admin_client`` / ``op_client`` / ``user_client`` /
``viewer_client`` are test clients already logged in with that role.
Browser tests use ``live_server`` (a real werkzeug server thread) and
``browser`` (Playwright driving Debian's chromium, installed on demand).
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.db.users import NewUser
from flowctl.settings import Settings
from flowctl.web.app import create_app
from tests.web.webdata import T0, Seeded, seed_example

log = logging.getLogger(__name__)
ROLES = ("Admin", "Op", "User", "Viewer")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def password_of(role: str) -> str:
    return f"pw-{role.lower()}-12345"


@dataclass
class Clock:
    """A settable clock the app reads (time is a parameter, never a monkeypatch)."""

    now: datetime = field(default=T0 + timedelta(days=1))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture
def web_settings(tmp_path: Path, migrated_sqlite_url: str) -> Settings:
    env = {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": migrated_sqlite_url,
           "FLOWCTL__WEBSERVER__SECRET_KEY": "test-secret-" + tmp_path.name,
           "FLOWCTL__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs")}
    return Settings.load(environ=env)  # FLOWCTL_HOME has no config.cfg: defaults and these


FERNET_KEY = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtbG9uZy1rZXk="  # 32 url-safe base64 bytes, tests only


@pytest.fixture
def web_store(sqlite_store: Store) -> Store:
    """The test's Store, able to keep secrets (connection passwords) like a deployed one."""
    sqlite_store.use_fernet_key(FERNET_KEY)
    return sqlite_store


#: ``params`` of a module's own ``web_store`` fixture whose tests run on both databases
#: (its body: ``return store_on(request)``); the other web tests use SQLite.
BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def store_on(request: pytest.FixtureRequest) -> Store:
    """The Store of the database ``request.param`` names, keeping secrets like :func:`web_store`'s."""
    store: Store = request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")
    store.use_fernet_key(FERNET_KEY)
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(web_settings: Settings, web_store: Store, clock: Clock) -> Flask:
    flask_app = create_app(web_settings, web_store, clock)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def users(web_store: Store) -> dict[str, str]:
    """One user per role: username (= role in lower case) -> password."""
    for role in ROLES:
        web_store.create_user(NewUser(username=role.lower(), role=role), password_of(role), T0)
    return {role.lower(): password_of(role) for role in ROLES}


@pytest.fixture
def seeded(web_store: Store) -> Seeded:
    return seed_example(web_store)


def csrf_of(client: FlaskClient) -> str:
    """This client's CSRF token (opens a page first if the session has none)."""
    with client.session_transaction() as session:
        token = session.get("_csrf")
    if not token:
        client.get("/login")
        with client.session_transaction() as session:
            token = session.get("_csrf")
    return str(token)


def login(client: FlaskClient, username: str, password: str) -> Any:
    """Log in through the form, as a browser does (GET for the CSRF token, then POST)."""
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(client)})


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST a form with the session's CSRF token added."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)}, **kwargs)


def _logged_in(app: Flask, users: dict[str, str], name: str) -> FlaskClient:
    test_client = app.test_client()
    response = login(test_client, name, users[name])
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return test_client


@pytest.fixture
def admin_client(app: Flask, users: dict[str, str]) -> FlaskClient:
    return _logged_in(app, users, "admin")


@pytest.fixture
def op_client(app: Flask, users: dict[str, str]) -> FlaskClient:
    return _logged_in(app, users, "op")


@pytest.fixture
def user_client(app: Flask, users: dict[str, str]) -> FlaskClient:
    return _logged_in(app, users, "user")


@pytest.fixture
def viewer_client(app: Flask, users: dict[str, str]) -> FlaskClient:
    return _logged_in(app, users, "viewer")


# --- a real server and a real browser ---------------------------------------------------------------

@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real werkzeug server on 127.0.0.1:<free port>; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    # Keep track of the request threads (werkzeug makes them daemons, untracked) so that
    # server_close() waits for a request still in flight when the test ends: it may hold a
    # database connection that the store fixture then finds checked out.
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _ensure_chromium() -> str | None:
    """Path of chromium, installing Debian's package once when we are root; None (with a reason) if not."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        # pytest-xdist workers each get here: one installs while the others wait on the lock
        # (two apt-get runs at once would fail on dpkg's own lock).
        with open(os.path.join(tempfile.gettempdir(), "flowctl-chromium-install.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(CHROMIUM):
                return CHROMIUM
            log.warning("installing Debian's chromium for the browser tests (apt-get install -y chromium)")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, env=env, capture_output=True)
        if os.path.exists(CHROMIUM):
            return CHROMIUM
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless chromium driven by Playwright (skips outside CI when unavailable)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    path = _ensure_chromium()
    if path is None:
        _skip_or_fail(f"{CHROMIUM} is missing and cannot be installed here (not root or no apt-get)")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh browser page (1280x800) with the base URL set to the live server."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server)
    tab = context.new_page()
    yield tab
    context.close()


def basic(name: str, password: str) -> dict[str, str]:
    """``curl -u name:password``'s header."""
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def browser_login(tab: Any, username: str, password: str) -> None:
    """Log in through the real form."""
    tab.goto("/login")
    tab.fill("#username", username)
    tab.fill("#password", password)
    tab.click("button[type=submit]")
    tab.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def admin_tab(page: Any, users: dict[str, str], seeded: Seeded) -> Any:
    """A browser page logged in as the admin user, on the seeded data."""
    browser_login(page, "admin", users["admin"])
    return page


def wait_until(tab: Any, predicate: str, seconds: float = 20.0) -> None:
    """Poll ``predicate`` (a JS function of no arguments) in the page until true, with a deadline.
    (``wait_for_function`` evaluates a string, which the UI's Content-Security-Policy forbids.)"""
    import time

    deadline = time.monotonic() + seconds
    while not tab.evaluate(predicate):
        assert time.monotonic() < deadline, f"still false after {seconds}s: {predicate}"
        tab.wait_for_timeout(100)
