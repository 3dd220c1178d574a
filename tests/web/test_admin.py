"""Admin pages: variables, connections (write-only passwords), pools (used/queued/open), users, audit log."""
from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from flowctl.core.connection import Connection
from flowctl.db.records import TaskInstanceKey
from flowctl.db.store import Store
from flowctl.db.tables import ConnectionRow
from tests.web.conftest import post
from tests.web.webdata import HIDDEN_DAG, Seeded, seed_hidden


def test_an_op_creates_lists_and_deletes_a_variable(op_client: FlaskClient, web_store: Store) -> None:
    assert post(op_client, "/admin/variables", {"key": "region", "val": "eu-west-1",
                                                "description": "where"}).status_code == 302
    assert web_store.get_variable("region") == "eu-west-1"
    assert "eu-west-1" in op_client.get("/admin/variables").get_data(as_text=True)
    assert post(op_client, "/admin/variables/region/delete").status_code == 302
    assert web_store.list_variables() == []
    assert [a.event for a in web_store.list_audit()][:2] == ["variable.delete", "variable.set"]


def test_values_of_sensitive_variable_keys_are_not_shown(op_client: FlaskClient, web_store: Store) -> None:
    web_store.set_variable("api_password", "hunter2-secret")
    body = op_client.get("/admin/variables").get_data(as_text=True)
    assert "api_password" in body and "hunter2-secret" not in body


def test_connection_passwords_are_write_only(op_client: FlaskClient, web_store: Store) -> None:
    form = {"conn_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "port": "5432",
            "login": "etl", "password": "s3cr3t-pw"}
    assert post(op_client, "/admin/connections", form).status_code == 302
    assert web_store.get_connection("warehouse").password == "s3cr3t-pw"
    page = op_client.get("/admin/connections").get_data(as_text=True)
    assert "db.internal" in page and "s3cr3t-pw" not in page
    post(op_client, "/admin/connections", {**form, "host": "db2.internal", "password": ""})
    kept = web_store.get_connection("warehouse")
    assert (kept.host, kept.password) == ("db2.internal", "s3cr3t-pw")
    post(op_client, "/admin/connections", {**form, "password": "", "clear_password": "1"})
    assert web_store.get_connection("warehouse").password is None
    assert post(op_client, "/admin/connections/warehouse/delete").status_code == 302
    assert web_store.list_connections() == []


@pytest.mark.parametrize("change", [{"conn_id": "a b"}, {"host": "h" * 501}])
def test_a_connection_the_database_cannot_hold_is_refused_by_the_form(op_client: FlaskClient, web_store: Store,
                                                                      change: dict[str, Any]) -> None:
    form = {"conn_id": "warehouse", "conn_type": "postgres", "host": "db.internal", **change}
    assert post(op_client, "/admin/connections", form).status_code == 400
    assert web_store.list_connections() == []


def test_keys_with_a_slash_can_be_deleted_from_their_pages(op_client: FlaskClient, web_store: Store) -> None:
    """Before: the delete form of a variable "team/token" posted to a URL that was a 404."""
    web_store.set_variable("team/secret_token", "tok")
    with Session(web_store.engine) as s, s.begin():  # an id older databases may hold; the Store refuses new ones
        s.add(ConnectionRow(conn_id="team/api", conn_type="http"))
    page = op_client.get("/admin/variables").get_data(as_text=True)
    assert 'action="/admin/variables/team/secret_token/delete"' in page
    assert post(op_client, "/admin/variables/team/secret_token/delete").status_code == 302
    assert post(op_client, "/admin/connections/team/api/delete").status_code == 302
    assert (web_store.list_variables(), web_store.list_connections()) == ([], [])


def test_editing_a_connection_starts_from_its_stored_fields_and_keeps_its_secrets(op_client: FlaskClient,
                                                                                  web_store: Store) -> None:
    """Before: the form was always empty; saving it with a new host wiped login, port and extra."""
    web_store.upsert_connection(Connection(conn_id="api", conn_type="http", host="old.example.com", login="etl",
                                           password="pw-12345", port=8443,
                                           extra='{"timeout": 30, "api_token": "tok-98765"}'))
    page = op_client.get("/admin/connections?edit=api").get_data(as_text=True)
    assert 'value="old.example.com"' in page and 'value="etl"' in page and 'value="8443"' in page
    assert "tok-98765" not in page and "pw-12345" not in page and "timeout" in page
    form = {"conn_id": "api", "conn_type": "http", "host": "new.example.com", "login": "etl", "port": "8443",
            "extra": '{"timeout": 60, "api_token": "***"}', "password": ""}
    assert post(op_client, "/admin/connections", form).status_code == 302
    saved = web_store.get_connection("api")
    assert (saved.host, saved.login, saved.port, saved.password) == ("new.example.com", "etl", 8443, "pw-12345")
    assert saved.extra_dejson == {"timeout": 60, "api_token": "tok-98765"}


def test_a_connections_extra_must_be_a_json_object_and_its_port_a_port(op_client: FlaskClient,
                                                                       web_store: Store) -> None:
    """Before: extra "{bad" was stored as text; port 99999999999999999999 was a 500."""
    for field, value in (("extra", "{bad"), ("port", "99999999999999999999"), ("port", "70000")):
        response = post(op_client, "/admin/connections", {"conn_id": "x", "conn_type": "http", field: value})
        assert response.status_code == 400, (field, value)
    assert web_store.list_connections() == []


def test_a_pool_with_absurd_slots_is_a_400_not_a_500(op_client: FlaskClient, web_store: Store) -> None:
    response = post(op_client, "/admin/pools", {"pool": "big", "slots": "99999999999999999999999"})
    assert response.status_code == 400
    assert "big" not in [p.name for p in web_store.list_pools()]


def test_a_refused_pool_or_variable_shows_the_form_again_with_the_reason(op_client: FlaskClient,
                                                                         web_store: Store) -> None:
    """Before: a bare error page with no form, the typed values lost (the connection form already did this)."""
    for data, reason in (({"pool": "  ", "slots": "7", "description": "etl"}, "the pool name must not be empty"),
                         ({"pool": "big", "slots": "-5", "description": "etl"}, "slots must be from -1")):
        response = post(op_client, "/admin/pools", data)
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and 'id="pool-error"' in body and reason in body
        assert 'name="slots"' in body and 'value="etl"' in body
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    response = post(op_client, "/admin/variables", {"key": " ", "val": "kept value", "description": "d"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="variable-error"' in body and "a variable needs a key" in body
    assert "kept value</textarea>" in body


def test_a_connection_with_a_bad_port_is_a_400(op_client: FlaskClient, web_store: Store) -> None:
    response = post(op_client, "/admin/connections", {"conn_id": "x", "conn_type": "http", "port": "eighty"})
    assert response.status_code == 400
    web_store.upsert_connection(Connection(conn_id="y", conn_type="http"))
    assert [c.conn_id for c in web_store.list_connections()] == ["y"]


def test_pools_show_slots_used_queued_and_open(op_client: FlaskClient, viewer_client: FlaskClient,
                                               web_store: Store, seeded: Seeded) -> None:
    assert post(op_client, "/admin/pools", {"pool": "small", "slots": "4"}).status_code == 302
    body = viewer_client.get("/admin/pools").get_data(as_text=True)
    row = body[body.index('data-pool="default_pool"'):]
    row = row[:row.index("</tr>")]
    # the running run has one running and one queued try; 128 - 2 open
    assert ">1</a>" in row and "126" in row
    assert 'data-pool="small"' in body
    assert post(op_client, "/admin/pools/small/delete").status_code == 302
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]


def test_only_admins_manage_users(admin_client: FlaskClient, op_client: FlaskClient, web_store: Store) -> None:
    assert op_client.get("/admin/users").status_code == 403
    form = {"username": "dana", "role": "User", "password": "long-enough-pw", "email": "d@example.com"}
    assert post(admin_client, "/admin/users", form).status_code == 302
    assert web_store.get_user("dana").roles == ("User",)
    post(admin_client, "/admin/users/dana/role", {"role": "Op"})
    assert set(web_store.get_user("dana").roles) == {"Op", "User"}
    assert "dana" in admin_client.get("/admin/users").get_data(as_text=True)
    assert post(admin_client, "/admin/users/dana/delete").status_code == 302
    assert post(admin_client, "/admin/users/admin/delete").status_code == 400  # not yourself
    assert "dana" not in [u.username for u in web_store.list_users()]


def test_a_new_user_with_an_email_address_in_use_is_a_400(admin_client: FlaskClient, web_store: Store) -> None:
    form = {"username": "dana", "role": "User", "password": "long-enough-pw", "email": "Dana@Example.com"}
    assert post(admin_client, "/admin/users", form).status_code == 302
    response = post(admin_client, "/admin/users", {**form, "username": "dana2", "email": "dana@example.COM"})
    assert response.status_code == 400
    assert "already used by user &#39;dana&#39;" in response.get_data(as_text=True)
    assert "dana2" not in [u.username for u in web_store.list_users()]


def test_a_too_short_password_for_a_new_user_is_a_400(admin_client: FlaskClient) -> None:
    response = post(admin_client, "/admin/users", {"username": "x", "role": "Viewer", "password": "short"})
    assert response.status_code == 400
    assert "at least 8" in response.get_data(as_text=True)


def test_the_audit_log_lists_and_filters_who_did_what(admin_client: FlaskClient, user_client: FlaskClient,
                                                     web_store: Store, seeded: Seeded) -> None:
    post(user_client, f"/dags/{seeded.dag_id}/pause", {"is_paused": "true"})
    web_store.clear_task_instances([TaskInstanceKey(seeded.dag_id, seeded.failed_run.run_id, "web.fetch")],
                                   seeded.failed_run.logical_date)
    body = admin_client.get("/audit?event=pause").get_data(as_text=True)
    assert ">pause<" in body and ">user<" in body and ">login<" not in body
    assert ">login<" in admin_client.get("/audit").get_data(as_text=True)


def test_the_audit_log_leaves_out_the_rows_of_a_dag_the_user_may_not_see(
        viewer_client: FlaskClient, admin_client: FlaskClient, web_store: Store) -> None:
    """Before: a Viewer's /audit listed a hidden DAG's triggers with their conf and its notes."""
    run = seed_hidden(web_store)
    web_store.audit("trigger", now=run.logical_date, source="ui", owner="op", dag_id=HIDDEN_DAG, run_id=run.run_id,
                    extra={"conf": {"bucket": "conf-of-the-hidden-dag"}})
    web_store.audit("set_note", now=run.logical_date, source="api", owner="op", dag_id=HIDDEN_DAG,
                    run_id=run.run_id, extra={"note": "note-of-the-hidden-dag"})
    for url in ("/audit", f"/audit?dag_id={HIDDEN_DAG}", "/audit?event=set_note"):
        body = viewer_client.get(url).get_data(as_text=True)
        assert f'href="/dags/{HIDDEN_DAG}' not in body and "conf-of-the-hidden-dag" not in body, url
        assert "note-of-the-hidden-dag" not in body, url
    assert ">login<" in viewer_client.get("/audit").get_data(as_text=True)  # rows of no DAG stay
    shown = admin_client.get(f"/audit?dag_id={HIDDEN_DAG}").get_data(as_text=True)
    assert "conf-of-the-hidden-dag" in shown and "note-of-the-hidden-dag" in shown


def test_a_connection_id_the_api_refuses_is_refused_by_the_form_too(op_client: FlaskClient,
                                                                   web_store: Store) -> None:
    """Before: the form saved "bad id <b>/x", which the API then could neither find nor delete."""
    for conn_id in ("bad id <b>/x", "x" * 251):
        form = {"conn_id": conn_id, "conn_type": "http", "host": "kept.example.com"}
        response = post(op_client, "/admin/connections", form)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, conn_id
        assert "letters, digits, &#39;_&#39;, &#39;.&#39; or &#39;-&#39;" in body  # the API's rule, said
        assert 'action="/admin/connections"' in body and 'value="kept.example.com"' in body  # the form again
    assert web_store.list_connections() == []
    assert post(op_client, "/admin/connections", {"conn_id": "ok.id-1_x", "conn_type": "http"}).status_code == 302
    assert [c.conn_id for c in web_store.list_connections()] == ["ok.id-1_x"]
