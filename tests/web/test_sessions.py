"""A browser session lasts only while its user's password and sign-out state are unchanged.

The session is a signed cookie the browser keeps: a copy saved before a logout
or a password reset used to go on working. Now the session carries a stamp of
the user's row that logout and a new password change, so such a copy is
refused (login page, or 401 under /api/). Logout ends every browser session of
that user; their API tokens are not sessions and stay.
"""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.cli.conftest import run_cli
from tests.web.conftest import BOTH_DATABASES, login, post, store_on

COOKIE = "flowctl_session"
NEW_PASSWORD = "a-brand-new-pw-1"


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """The user row the session is checked against is read on both databases."""
    return store_on(request)


def saved_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def replayed(app: Flask, cookie: str) -> FlaskClient:
    """A new client that sends only a saved copy of a session cookie, as an attacker holding it would."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other


def assert_logged_out(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login"), page.status_code
    assert client.get("/api/v1/dags").status_code == 401


def test_a_saved_session_cookie_is_refused_after_logout(app: Flask, admin_client: FlaskClient) -> None:
    cookie = saved_cookie(admin_client)
    assert replayed(app, cookie).get("/").status_code == 200
    assert post(admin_client, "/logout").status_code == 302
    assert_logged_out(replayed(app, cookie))
    assert_logged_out(admin_client)


def test_logout_ends_every_browser_session_of_that_user_and_no_one_elses(
        app: Flask, users: dict[str, str], admin_client: FlaskClient, viewer_client: FlaskClient) -> None:
    laptop = app.test_client()
    assert login(laptop, "admin", users["admin"]).status_code == 302
    assert post(admin_client, "/logout").status_code == 302
    assert_logged_out(laptop)
    assert viewer_client.get("/").status_code == 200


def test_a_saved_session_cookie_is_refused_after_users_reset_password(
        app: Flask, admin_client: FlaskClient, web_store: Store, tmp_path: object,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cookie = saved_cookie(admin_client)
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN",
                       web_store.engine.url.render_as_string(hide_password=False))
    code, out, err = run_cli(capsys, "users", "reset-password", "-u", "admin", "-p", NEW_PASSWORD)
    assert code == 0, err
    assert_logged_out(replayed(app, cookie))
    assert_logged_out(admin_client)


def test_a_fresh_login_works_after_a_logout_and_after_a_password_reset(
        app: Flask, users: dict[str, str], admin_client: FlaskClient, web_store: Store) -> None:
    post(admin_client, "/logout")
    assert login(admin_client, "admin", users["admin"]).status_code == 302
    assert admin_client.get("/").status_code == 200
    web_store.reset_password("admin", NEW_PASSWORD)
    assert_logged_out(admin_client)
    assert login(admin_client, "admin", users["admin"]).status_code == 401
    assert login(admin_client, "admin", NEW_PASSWORD).status_code == 302
    assert admin_client.get("/").status_code == 200
    assert admin_client.get("/api/v1/dags").status_code == 200


def test_a_new_role_keeps_the_session_and_takes_effect_at_once(user_client: FlaskClient, web_store: Store) -> None:
    assert user_client.get("/admin/variables").status_code == 403
    web_store.add_role("user", "Op")
    assert user_client.get("/admin/variables").status_code == 200
