"""A NUL byte or a lone surrogate anywhere in a request is a 400 at the edge, on both databases.

PostgreSQL cannot store or even compare a string with a NUL (0x00) in it, and
neither database can take a lone surrogate (``"\\ud800"`` in JSON), which UTF-8
cannot encode: such a request used to be a 500 wherever it reached a query. It
now never gets past the first request guard: no login check, no audit row,
nothing written.
"""
from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.web.conftest import BOTH_DATABASES, basic, csrf_of, login, post, store_on
from tests.web.webdata import Seeded

API = "/api/v1"


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """PostgreSQL is where a NUL byte was a 500; SQLite stored it."""
    return store_on(request)



def assert_api_400(response: Any) -> None:
    """The API's problem body, as every other API error has it."""
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert set(body) == {"status", "title", "detail"}
    assert body["status"] == 400 and body["title"] == "Bad Request" and "NUL" in body["detail"]


def assert_page_400(response: Any) -> None:
    """The UI's own 400 page, not JSON."""
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    assert "NUL" in response.get_data(as_text=True)


def test_a_login_with_a_nul_in_the_username_is_a_400_and_not_counted_or_audited(
        client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    assert_page_400(login(client, "ad\x00min", users["admin"]))
    assert_page_400(login(client, "admin", "pw\x00" + users["admin"]))
    assert web_store.list_audit() == []
    assert login(client, "admin", users["admin"]).status_code == 302


def test_basic_auth_with_a_nul_in_the_username_or_password_is_a_400_before_any_login_check(
        client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    assert_api_400(client.get(f"{API}/dags", headers=basic("ad\x00min", "whatever-it-is")))
    assert_api_400(client.get(f"{API}/dags", headers=basic("admin", users["admin"] + "\x00")))
    assert web_store.list_audit() == []  # no login_failed row counted against anyone


def test_a_nul_in_a_query_string_is_a_400(admin_client: FlaskClient, users: dict[str, str],
                                          seeded: Seeded) -> None:
    for url in ("/?search=%00", "/?tag=%00", "/?search=a%00b&tag=x", f"/dags/{seeded.dag_id}/grid?run_id=%00"):
        assert_page_400(admin_client.get(url))
    for url in (f"{API}/dags?dag_id_pattern=%00", f"{API}/dags?tags=ok&tags=n%00"):
        assert_api_400(admin_client.get(url, headers=basic("admin", users["admin"])))


def test_a_nul_in_a_path_segment_is_a_400_even_without_a_login(admin_client: FlaskClient,
                                                                client: FlaskClient) -> None:
    assert_page_400(admin_client.get("/dags/x%00y"))
    assert_page_400(client.get("/dags/x%00y"))
    assert_api_400(client.get(f"{API}/variables/%00"))
    assert_api_400(client.delete(f"{API}/pools/p%00"))


def test_a_nul_in_a_form_field_is_a_400_and_stores_nothing(admin_client: FlaskClient, web_store: Store) -> None:
    assert_page_400(post(admin_client, "/admin/variables", {"key": "nul\x00key", "val": "v"}))
    assert_page_400(post(admin_client, "/admin/variables", {"key": "k", "val": "a\x00b"}))
    assert_page_400(post(admin_client, "/admin/pools", {"pool": "p\x00", "slots": "3"}))
    assert_page_400(post(admin_client, "/admin/users", {"username": "eve\x00", "password": "long-enough-1"}))
    assert web_store.list_variables() == []
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    assert [u.username for u in web_store.list_users()] == ["admin", "op", "user", "viewer"]


def test_a_nul_in_a_json_body_at_any_depth_is_a_400_and_stores_nothing(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    admin = basic("admin", users["admin"])
    assert_api_400(client.post(f"{API}/variables", json={"key": "nul\u0000key", "value": "v"}, headers=admin))
    assert_api_400(client.post(f"{API}/pools", json={"name": "p\u0000", "slots": 1}, headers=admin))
    runs = f"{API}/dags/{seeded.dag_id}/dagRuns"
    assert_api_400(client.post(runs, json={"dag_run_id": "deep", "conf": {"a": [{"b": ["ok", "\u0000"]}]}},
                               headers=admin))
    assert_api_400(client.post(runs, json={"dag_run_id": "key", "conf": {"k\u0000": 1}}, headers=admin))
    assert web_store.list_variables() == []
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    for run_id in ("deep", "key"):
        assert client.get(f"{runs}/{run_id}", headers=admin).status_code == 404


def test_requests_without_a_nul_are_untouched(client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    admin = basic("admin", users["admin"])
    created = client.post(f"{API}/variables", json={"key": "k", "value": "tab\there \\0 and %00"}, headers=admin)
    assert created.status_code == 200, created.get_data(as_text=True)
    assert web_store.get_variable("k") == "tab\there \\0 and %00"



def assert_surrogate_400(response: Any) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert set(body) == {"status", "title", "detail"} and "UTF-8" in body["detail"]


def test_a_lone_surrogate_in_a_json_body_is_a_400_and_stores_nothing(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    """Before: a 500 (UnicodeEncodeError in the database driver)."""
    admin = basic("admin", users["admin"])
    runs = f"{API}/dags/{seeded.dag_id}/dagRuns"
    for url, body in ((f"{API}/variables", {"key": "\ud800", "value": "x"}),
                      (f"{API}/variables", {"key": "k", "value": "a\udfffb"}),
                      (f"{API}/connections", {"connection_id": "c", "conn_type": "\ud800"}),
                      (f"{API}/pools", {"name": "\ud800", "slots": 1}),
                      (runs, {"dag_run_id": "note", "note": "\ud800"}),
                      (runs, {"dag_run_id": "deep", "conf": {"a": [{"\udbff": 1}]}})):
        assert_surrogate_400(client.post(url, json=body, headers=admin))
    # the bytes of a surrogate (ED A0 80), which Python's JSON reader lets through as one
    raw = b'{"key": "\xed\xa0\x80", "value": "x"}'
    assert_surrogate_400(client.post(f"{API}/variables", data=raw, content_type="application/json", headers=admin))
    assert web_store.list_variables() == [] and web_store.list_connections() == []
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    for run_id in ("note", "deep"):
        assert client.get(f"{runs}/{run_id}", headers=admin).status_code == 404


def test_bytes_that_are_not_utf_8_in_a_url_or_form_arrive_as_text_every_database_stores(
        admin_client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    """A URL or a form cannot carry a lone surrogate: werkzeug reads their bytes as UTF-8, and what
    is not UTF-8 (a surrogate's ED A0 80 included) becomes U+FFFD in a path and stays percent-quoted
    in a query or form value."""
    admin = basic("admin", users["admin"])
    missing = admin_client.get(f"{API}/variables/%ED%A0%80", headers=admin)
    assert missing.status_code == 404 and "\ufffd" in missing.get_json()["detail"]
    assert admin_client.get("/?search=%ED%A0%80").status_code == 200
    form = f"key=%ED%A0%80&val=v&csrf_token={csrf_of(admin_client)}"
    assert admin_client.post("/admin/variables", data=form.encode(),
                             content_type="application/x-www-form-urlencoded").status_code == 302
    assert [v.key for v in web_store.list_variables()] == ["%ED%A0%80"]


def test_a_lone_surrogate_escaped_in_the_trigger_forms_conf_shows_the_form_again(
        admin_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    """The form's text is plain ASCII (``\\ud800``); the surrogate appears only once the conf is read."""
    response = post(admin_client, f"/dags/{seeded.dag_id}/trigger", {"conf": '{"a": "\\ud800"}', "run_id": "s"})
    assert response.status_code == 400 and "lone surrogate" in response.get_data(as_text=True)
    assert "s" not in [r.run_id for r in web_store.list_runs(seeded.dag_id)]
