"""``[webserver] login_max_failures = N``: N failed logins are allowed, the try after them is a 429.

As the setting's help says ("failed logins ... allowed within
login_failure_window_sec"): the Nth wrong password is still an ordinary
failure, the N+1th try is refused, even with the right password, until the
window has passed. The form and basic auth count together.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.web.app import create_app
from tests.web.conftest import BOTH_DATABASES, Clock, basic, login, store_on


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """Failures are counted by a query on the audit log, on both databases."""
    return store_on(request)



def limited_app(tmp_path: Path, web_settings: Settings, web_store: Store, clock: Clock, limit: int) -> Flask:
    env = {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__WEBSERVER__SECRET_KEY": "test-secret",
           "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": str(web_settings.get("database", "sql_alchemy_conn")),
           "FLOWCTL__WEBSERVER__LOGIN_MAX_FAILURES": str(limit)}
    return create_app(Settings.load(environ=env), web_store, clock)


def test_the_fifth_wrong_password_is_still_a_failure_and_the_sixth_try_is_refused(
        client: FlaskClient, users: dict[str, str]) -> None:
    for attempt in range(1, 6):  # the default login_max_failures = 5
        response = login(client, "viewer", f"wrong-{attempt}")
        assert response.status_code == 401, attempt
        assert "Wrong username or password." in response.get_data(as_text=True)
    sixth = login(client, "viewer", users["viewer"])
    assert sixth.status_code == 429
    assert "Too many failed logins" in sixth.get_data(as_text=True)


def test_basic_auth_allows_as_many_failures_and_counts_with_the_form(client: FlaskClient,
                                                                     users: dict[str, str]) -> None:
    for attempt in range(1, 4):
        assert login(client, "viewer", f"wrong-{attempt}").status_code == 401
    for attempt in range(4, 6):
        assert client.get("/api/v1/dags", headers=basic("viewer", f"wrong-{attempt}")).status_code == 401
    assert client.get("/api/v1/dags", headers=basic("viewer", users["viewer"])).status_code == 429


@pytest.mark.parametrize("limit", [1, 3])
def test_login_max_failures_is_the_number_of_failures_allowed(
        tmp_path: Path, web_settings: Settings, web_store: Store, clock: Clock, users: dict[str, str],
        limit: int) -> None:
    client = limited_app(tmp_path, web_settings, web_store, clock, limit).test_client()
    for attempt in range(limit):
        assert login(client, "op", "wrong-password").status_code == 401, attempt
    assert login(client, "op", users["op"]).status_code == 429
    clock.advance(seconds=301)  # login_failure_window_sec
    assert login(client, "op", users["op"]).status_code == 302
