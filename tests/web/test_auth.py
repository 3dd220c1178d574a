"""Logging in and out, the login requirement, roles and access_control narrowing."""
from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from flowctl.core.errors import ConfigError
from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.web.app import create_app
from flowctl.web.permissions import Perm, dag_permissions, hidden_dag_ids, permissions_of
from tests.web.conftest import login, post
from tests.web.webdata import T0, sync_example


def test_every_page_but_health_and_login_redirects_anonymous_users_to_login(client: FlaskClient) -> None:
    for url in ("/", "/browse/runs", "/admin/pools", "/audit", "/timeline", "/import-errors"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/health").status_code == 200
    assert client.get("/login").status_code == 200


def test_the_api_answers_anonymous_callers_with_401_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/dags")
    assert response.status_code == 401
    assert response.get_json()["status"] == 401


def test_a_right_password_logs_in_and_redirects_to_the_next_page(client: FlaskClient, users: dict[str, str]) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "viewer", "password": users["viewer"], "next": "/audit",
                                           "csrf_token": _token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/audit"
    assert client.get("/audit").status_code == 200


def test_a_login_never_redirects_to_another_site(client: FlaskClient, users: dict[str, str]) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "viewer", "password": users["viewer"],
                                           "next": "//evil.example/x", "csrf_token": _token(client)})
    assert response.headers["Location"] == "/"


def test_a_wrong_password_is_refused_and_audited(client: FlaskClient, users: dict[str, str],
                                                 web_store: Store) -> None:
    response = login(client, "viewer", "not-the-password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert [a.event for a in web_store.list_audit()] == ["login_failed"]


def test_logging_out_ends_the_session(viewer_client: FlaskClient) -> None:
    assert viewer_client.get("/").status_code == 200
    assert post(viewer_client, "/logout").status_code == 302
    assert viewer_client.get("/").status_code == 302


def test_a_deleted_user_is_logged_out_on_the_next_request(viewer_client: FlaskClient, web_store: Store) -> None:
    web_store.delete_user("viewer")
    assert viewer_client.get("/").status_code == 302


def test_the_app_refuses_to_start_without_a_secret_key(web_settings: Settings, web_store: Store) -> None:
    try:
        create_app(web_settings.replace(webserver__secret_key=""), web_store)
    except ConfigError as exc:
        assert "flowctl db init" in str(exc)
    else:
        raise AssertionError("create_app accepted an empty secret_key")


def test_the_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, app: Flask) -> None:
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["SECRET_KEY"].startswith("test-secret-")


def test_roles_grant_growing_permissions() -> None:
    assert permissions_of(["Viewer"]) == {Perm.READ}
    assert permissions_of(["User"]) == {Perm.READ, Perm.DAG_EDIT}
    assert permissions_of(["Op"]) == {Perm.READ, Perm.DAG_EDIT, Perm.CONFIG}
    assert permissions_of(["Admin"]) == set(Perm)
    assert permissions_of(["Nobody"]) == set()


def test_access_control_only_narrows_what_a_role_may_do() -> None:
    control = {"User": {"can_read"}, "Viewer": {"can_read", "can_edit"}}
    assert dag_permissions(["User"], control) == {Perm.READ}
    assert dag_permissions(["Viewer"], control) == {Perm.READ}
    assert dag_permissions(["Op"], control) == set()
    assert dag_permissions(["Admin"], control) == {Perm.READ, Perm.DAG_EDIT}
    assert dag_permissions(["Op"], {"Op": {"DAGs": {"can_edit"}}}) == {Perm.READ, Perm.DAG_EDIT}
    assert dag_permissions(["User"], None) == {Perm.READ, Perm.DAG_EDIT}
    assert hidden_dag_ids(["Op"], {"a": control, "b": {"Op": ["can_read"]}}) == {"a"}


def test_a_dag_with_access_control_is_hidden_from_roles_it_does_not_name(
        tmp_path: object, web_store: Store, viewer_client: FlaskClient, admin_client: FlaskClient) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "dags"
    folder.mkdir()
    (folder / "secret_dag.py").write_text(
        "from datetime import datetime\nfrom flowctl import DAG\nfrom flowctl.operators.empty import EmptyOperator\n"
        "with DAG('secret_dag', schedule=None, start_date=datetime(2024, 1, 1), "
        "access_control={'Op': {'can_read'}}):\n    EmptyOperator(task_id='t')\n")
    sync_example(web_store, folder / "secret_dag.py", T0)
    assert "secret_dag" not in viewer_client.get("/").get_data(as_text=True)
    assert viewer_client.get("/dags/secret_dag/graph").status_code == 404
    assert post(viewer_client, "/dags/secret_dag/pause").status_code == 404
    assert "secret_dag" in admin_client.get("/").get_data(as_text=True)


def _token(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session["_csrf"])


def test_the_login_page_answers_with_a_trailing_slash_too(client: FlaskClient) -> None:
    assert client.get("/login/").status_code == 200
