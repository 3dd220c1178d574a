"""The admin REST API as scripts use Airflow 2's: variables, connections, pools, version, config, event logs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.web.app import create_app
from tests.web.conftest import BOTH_DATABASES, Clock, basic, store_on
from tests.web.webdata import T0, Seeded, sync_example

API = "/api/v1"


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """These endpoints' queries run on both databases."""
    return store_on(request)



@pytest.fixture
def op(users: dict[str, str]) -> dict[str, str]:
    return basic("op", users["op"])


@pytest.fixture
def viewer(users: dict[str, str]) -> dict[str, str]:
    return basic("viewer", users["viewer"])


def api_audit(store: Store) -> list[tuple[str, Any]]:
    return [(a.event, json.loads(a.extra) if a.extra else None) for a in reversed(store.list_audit())
            if a.source == "api"]


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


# --- variables -------------------------------------------------------------------------------------

def test_a_variable_is_created_read_updated_and_deleted(client: FlaskClient, op: dict[str, str],
                                                       web_store: Store) -> None:
    created = client.post(f"{API}/variables", json={"key": "env/region", "value": "eu", "description": "where"},
                          headers=op)
    assert created.status_code == 200
    assert created.get_json() == {"key": "env/region", "value": "eu", "description": "where"}
    assert client.get(f"{API}/variables/env/region", headers=op).get_json()["value"] == "eu"

    patched = client.patch(f"{API}/variables/env/region?update_mask=value",
                           json={"key": "env/region", "value": "us", "description": "ignored"}, headers=op)
    assert patched.status_code == 200 and patched.get_json()["value"] == "us"
    record = web_store.get_variable_record("env/region")
    assert (record.val, record.description) == ("us", "where")  # the mask left description alone

    assert client.patch(f"{API}/variables/env/region", json={"description": None}, headers=op).status_code == 200
    assert web_store.get_variable_record("env/region").description is None

    deleted = client.delete(f"{API}/variables/env/region", headers=op)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert web_store.list_variables() == []
    assert_json_error(client.delete(f"{API}/variables/env/region", headers=op), 404)
    assert_json_error(client.get(f"{API}/variables/env/region", headers=op), 404)
    assert api_audit(web_store) == [("variable.set", {"key": "env/region"})] * 3 + [
        ("variable.delete", {"key": "env/region"})]


def test_secret_variables_read_as_stars_but_are_stored_whole(client: FlaskClient, op: dict[str, str],
                                                              web_store: Store) -> None:
    web_store.set_variable("db_password", "hunter22")
    web_store.set_variable("plain", "visible")
    assert client.get(f"{API}/variables/db_password", headers=op).get_json()["value"] == "***"
    listed = client.get(f"{API}/variables", headers=op).get_json()
    assert {v["key"]: v["value"] for v in listed["variables"]} == {"db_password": "***", "plain": "visible"}
    posted = client.post(f"{API}/variables", json={"key": "API_TOKEN", "value": "t0k3n-value"}, headers=op)
    assert posted.get_json()["value"] == "***"
    assert web_store.get_variable("API_TOKEN") == "t0k3n-value"
    assert "t0k3n-value" not in json.dumps([a.extra for a in web_store.list_audit()])


def test_a_secret_variable_patched_back_with_the_stars_it_read_keeps_its_value(
        client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    web_store.set_variable("db_password", "hunter22")
    read = client.get(f"{API}/variables/db_password", headers=op).get_json()
    read["description"] = "rotated monthly"  # a script edits the description and sends the rest back as read
    response = client.patch(f"{API}/variables/db_password", json=read, headers=op)
    assert response.status_code == 200 and response.get_json()["description"] == "rotated monthly"
    assert web_store.get_variable("db_password") == "hunter22"
    assert client.patch(f"{API}/variables/db_password", json={"key": "db_password", "value": "new-pw-22"},
                        headers=op).status_code == 200
    assert web_store.get_variable("db_password") == "new-pw-22"
    # Airflow's POST creates or replaces: one sent back as read keeps the value, takes the description
    posted = client.post(f"{API}/variables", json={**read, "description": "again"}, headers=op)
    assert posted.status_code == 200 and posted.get_json()["description"] == "again"
    assert web_store.get_variable("db_password") == "new-pw-22"


def test_variables_are_paged_and_sorted_as_asked(client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    for key in ("b", "a", "d", "c"):
        web_store.set_variable(key, key.upper())
    page = client.get(f"{API}/variables?limit=2&offset=1&order_by=-key", headers=op).get_json()
    assert [v["key"] for v in page["variables"]] == ["c", "b"] and page["total_entries"] == 4
    assert [v["key"] for v in client.get(f"{API}/variables", headers=op).get_json()["variables"]] == list("abcd")


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "limit=1.5", "offset=-1", "order_by=value2",
                                   "order_by=-"])
def test_bad_list_parameters_are_400(client: FlaskClient, op: dict[str, str], query: str) -> None:
    for resource in ("variables", "connections", "pools", "eventLogs"):
        assert_json_error(client.get(f"{API}/{resource}?{query}", headers=op), 400)


@pytest.mark.parametrize("url", ["variables", "connections", "pools", "eventLogs", "variables/k", "pools/default_pool",
                                 "version", "eventLogs/1"])
def test_an_unknown_query_parameter_is_a_400_naming_it(client: FlaskClient, op: dict[str, str],
                                                       web_store: Store, url: str) -> None:
    body = assert_json_error(client.get(f"{API}/{url}?bogus=1", headers=op), 400)
    assert "bogus" in body["detail"]


def test_an_unknown_query_parameter_changes_nothing(client: FlaskClient, op: dict[str, str],
                                                    web_store: Store) -> None:
    web_store.set_variable("k", "v")
    assert_json_error(client.patch(f"{API}/variables/k?bogus=1", json={"value": "x"}, headers=op), 400)
    assert_json_error(client.delete(f"{API}/variables/k?bogus=1", headers=op), 400)
    assert_json_error(client.post(f"{API}/pools?bogus=1", json={"name": "p", "slots": 1}, headers=op), 400)
    assert web_store.get_variable("k") == "v" and [p.name for p in web_store.list_pools()] == ["default_pool"]


@pytest.mark.parametrize("body", [
    {"key": "k"}, {"value": "v"}, {"key": "k", "value": 3}, {"key": "k", "value": "v", "extra": 1},
    {"key": "", "value": "v"}, {"key": "k" * 300, "value": "v"}, [1, 2], "text",
])
def test_a_bad_variable_body_is_400_and_stores_nothing(client: FlaskClient, op: dict[str, str],
                                                        web_store: Store, body: Any) -> None:
    assert_json_error(client.post(f"{API}/variables", json=body, headers=op), 400)
    assert web_store.list_variables() == []


def test_malformed_json_is_a_json_400_not_a_500(client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    web_store.set_variable("k", "v")
    for method, url in (("post", "variables"), ("patch", "variables/k"), ("post", "connections"),
                        ("post", "pools"), ("patch", "pools/default_pool")):
        response = getattr(client, method)(f"{API}/{url}", data="{not json", content_type="application/json",
                                           headers=op)
        assert_json_error(response, 400)


def test_a_variable_patch_checks_its_key_and_update_mask(client: FlaskClient, op: dict[str, str],
                                                          web_store: Store) -> None:
    web_store.set_variable("k", "v")
    assert_json_error(client.patch(f"{API}/variables/k", json={"key": "other", "value": "x"}, headers=op), 400)
    assert_json_error(client.patch(f"{API}/variables/k?update_mask=key", json={"key": "k"}, headers=op), 400)
    assert_json_error(client.patch(f"{API}/variables/k?update_mask=description", json={"value": "x"},
                                   headers=op), 400)
    assert_json_error(client.patch(f"{API}/variables/k", json={}, headers=op), 400)
    assert_json_error(client.patch(f"{API}/variables/missing", json={"value": "x"}, headers=op), 404)
    assert web_store.get_variable("k") == "v" and web_store.list_variables()[0].key == "k"


# --- permissions ---------------------------------------------------------------------------------------

def test_a_viewer_reads_pools_but_not_variables_or_connections_and_changes_nothing(
        client: FlaskClient, viewer: dict[str, str], web_store: Store) -> None:
    web_store.set_variable("k", "v")
    assert client.get(f"{API}/pools", headers=viewer).status_code == 200
    assert client.get(f"{API}/eventLogs", headers=viewer).status_code == 200
    assert client.get(f"{API}/version", headers=viewer).status_code == 200
    for url in ("variables", "variables/k", "connections", "config"):
        assert_json_error(client.get(f"{API}/{url}", headers=viewer), 403)
    assert_json_error(client.post(f"{API}/variables", json={"key": "x", "value": "y"}, headers=viewer), 403)
    assert_json_error(client.delete(f"{API}/variables/k", headers=viewer), 403)
    assert_json_error(client.post(f"{API}/pools", json={"name": "p", "slots": 1}, headers=viewer), 403)
    assert_json_error(client.patch(f"{API}/pools/default_pool", json={"slots": 1}, headers=viewer), 403)
    assert_json_error(client.post(f"{API}/connections", json={"connection_id": "c", "conn_type": "http"},
                                  headers=viewer), 403)
    assert [v.key for v in web_store.list_variables()] == ["k"]
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    assert web_store.list_connections() == []


def test_an_admin_manages_everything_and_anonymous_calls_are_401(client: FlaskClient, users: dict[str, str]) -> None:
    admin = basic("admin", users["admin"])
    assert client.post(f"{API}/variables", json={"key": "k", "value": "v"}, headers=admin).status_code == 200
    assert client.post(f"{API}/pools", json={"name": "p", "slots": 2}, headers=admin).status_code == 200
    assert_json_error(client.get(f"{API}/variables"), 401)
    assert_json_error(client.get(f"{API}/pools"), 401)


def test_a_logged_in_session_needs_its_csrf_token_to_change_things(admin_client: FlaskClient,
                                                                   web_store: Store) -> None:
    assert admin_client.get(f"{API}/variables").status_code == 200
    assert_json_error(admin_client.post(f"{API}/variables", json={"key": "k", "value": "v"}), 400)
    assert web_store.list_variables() == []


# --- connections ---------------------------------------------------------------------------------------

PG = {"connection_id": "warehouse", "conn_type": "postgres", "host": "db.internal", "login": "etl",
      "password": "s3cr3t-pw", "schema": "sales", "port": 5432, "description": "the warehouse",
      "extra": json.dumps({"sslmode": "require", "api_key": "k-123456", "nested": {"client_secret": "xyz12"}})}


def test_a_connection_is_created_without_ever_showing_its_password(client: FlaskClient, op: dict[str, str],
                                                                   web_store: Store) -> None:
    response = client.post(f"{API}/connections", json=PG, headers=op)
    assert response.status_code == 200
    body = response.get_json()
    assert "password" not in body and "s3cr3t-pw" not in response.get_data(as_text=True)
    assert (body["connection_id"], body["port"], body["host"]) == ("warehouse", 5432, "db.internal")
    assert json.loads(body["extra"]) == {"sslmode": "require", "api_key": "***", "nested": {"client_secret": "***"}}
    stored = web_store.get_connection("warehouse")
    assert (stored.password, json.loads(stored.extra or "")["api_key"]) == ("s3cr3t-pw", "k-123456")

    one = client.get(f"{API}/connections/warehouse", headers=op)
    assert "s3cr3t-pw" not in one.get_data(as_text=True) and "k-123456" not in one.get_data(as_text=True)
    listed = client.get(f"{API}/connections", headers=op).get_json()
    assert listed["total_entries"] == 1 and listed["connections"][0]["connection_id"] == "warehouse"
    assert "password" not in listed["connections"][0]
    assert api_audit(web_store) == [("connection.set", {"conn_id": "warehouse"})]


def test_a_connection_patch_changes_only_the_masked_fields_and_keeps_the_password(
        client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    assert client.post(f"{API}/connections", json=PG, headers=op).status_code == 200
    patched = client.patch(f"{API}/connections/warehouse?update_mask=host,port",
                           json={"host": "db2.internal", "port": 6432, "login": "ignored"}, headers=op)
    assert patched.status_code == 200 and patched.get_json()["host"] == "db2.internal"
    stored = web_store.get_connection("warehouse")
    assert (stored.host, stored.port, stored.login, stored.password) == ("db2.internal", 6432, "etl", "s3cr3t-pw")
    assert client.patch(f"{API}/connections/warehouse", json={"password": "new-pw-99"}, headers=op).status_code == 200
    assert web_store.get_connection("warehouse").password == "new-pw-99"
    assert_json_error(client.patch(f"{API}/connections/warehouse", json={"connection_id": "renamed"},
                                   headers=op), 400)
    assert_json_error(client.patch(f"{API}/connections/warehouse?update_mask=connection_id",
                                   json={"connection_id": "warehouse"}, headers=op), 400)
    assert_json_error(client.patch(f"{API}/connections/nope", json={"host": "h"}, headers=op), 404)
    assert_json_error(client.patch(f"{API}/connections/warehouse", json={"host": "h" * 501}, headers=op), 400)
    assert web_store.get_connection("warehouse").host != "h" * 501


def test_a_connection_patched_back_with_the_masked_extra_it_read_keeps_its_secrets(
        client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    assert client.post(f"{API}/connections", json=PG, headers=op).status_code == 200
    read = client.get(f"{API}/connections/warehouse", headers=op).get_json()
    extra = json.loads(read["extra"])
    extra["sslmode"] = "verify-full"  # a script changes one setting and sends the rest back as it read it
    response = client.patch(f"{API}/connections/warehouse?update_mask=extra", json={"extra": json.dumps(extra)},
                            headers=op)
    assert response.status_code == 200
    assert json.loads(web_store.get_connection("warehouse").extra or "") == {
        "sslmode": "verify-full", "api_key": "k-123456", "nested": {"client_secret": "xyz12"}}
    replaced = client.patch(f"{API}/connections/warehouse", json={"extra": {"api_key": "k-new-789"}}, headers=op)
    assert replaced.status_code == 200
    assert json.loads(web_store.get_connection("warehouse").extra or "") == {"api_key": "k-new-789"}


@pytest.mark.parametrize("change", [
    {"port": 0}, {"port": 65536}, {"port": "5432"}, {"port": 54.5}, {"port": True},
    {"connection_id": "has space"}, {"connection_id": "a/b"}, {"connection_id": ""}, {"connection_id": "x" * 300},
    {"extra": "not json"}, {"extra": "[1, 2]"}, {"extra": 7}, {"conn_type": None}, {"conn_type": " "},
    {"host": 12}, {"unknown": 1}, {"host": "h" * 501}, {"schema": "s" * 501}, {"conn_type": "t" * 501},
])
def test_a_bad_connection_is_400_and_not_stored(client: FlaskClient, op: dict[str, str], web_store: Store,
                                                 change: dict[str, Any]) -> None:
    assert_json_error(client.post(f"{API}/connections", json={**PG, **change}, headers=op), 400)
    assert web_store.list_connections() == []


def test_a_second_connection_with_the_same_id_is_409_and_deleting_it_is_204(
        client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    assert client.post(f"{API}/connections", json=PG, headers=op).status_code == 200
    assert_json_error(client.post(f"{API}/connections", json={**PG, "host": "other"}, headers=op), 409)
    assert web_store.get_connection("warehouse").host == "db.internal"
    assert client.delete(f"{API}/connections/warehouse", headers=op).status_code == 204
    assert web_store.list_connections() == []
    assert_json_error(client.delete(f"{API}/connections/warehouse", headers=op), 404)
    assert_json_error(client.get(f"{API}/connections/warehouse", headers=op), 404)


def test_connections_sort_by_port_descending(client: FlaskClient, op: dict[str, str]) -> None:
    for conn_id, port in (("a", 1), ("b", 3), ("c", 2)):
        client.post(f"{API}/connections", json={"connection_id": conn_id, "conn_type": "http", "port": port},
                    headers=op)
    listed = client.get(f"{API}/connections?order_by=-port&limit=2", headers=op).get_json()
    assert [c["connection_id"] for c in listed["connections"]] == ["b", "c"] and listed["total_entries"] == 3


# --- pools ---------------------------------------------------------------------------------------------

POOL_FIELDS = {"name", "slots", "occupied_slots", "running_slots", "queued_slots", "scheduled_slots",
               "deferred_slots", "open_slots", "description", "include_deferred"}


def test_pools_show_airflows_fields_and_how_full_they_are(client: FlaskClient, viewer: dict[str, str],
                                                          seeded: Seeded) -> None:
    listed = client.get(f"{API}/pools", headers=viewer).get_json()
    assert listed["total_entries"] == 1
    (default,) = listed["pools"]
    assert set(default) == POOL_FIELDS
    # the running run of the example has one running and one queued task in default_pool
    assert (default["running_slots"], default["queued_slots"], default["occupied_slots"]) == (1, 1, 2)
    assert default["open_slots"] == default["slots"] - 2
    assert client.get(f"{API}/pools/default_pool", headers=viewer).get_json() == default


def test_a_pool_is_created_updated_and_deleted(client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    created = client.post(f"{API}/pools", json={"name": "etl/db", "slots": 4, "description": "the db"}, headers=op)
    assert created.status_code == 200
    assert created.get_json() == {"name": "etl/db", "slots": 4, "occupied_slots": 0, "running_slots": 0,
                                  "queued_slots": 0, "scheduled_slots": 0, "deferred_slots": 0, "open_slots": 4,
                                  "description": "the db", "include_deferred": False}
    assert_json_error(client.post(f"{API}/pools", json={"name": "etl/db", "slots": 1}, headers=op), 409)

    patched = client.patch(f"{API}/pools/etl/db?update_mask=slots", json={"slots": -1, "description": "no"},
                           headers=op)
    assert patched.status_code == 200 and patched.get_json()["open_slots"] is None
    pool = web_store.get_pool("etl/db")
    assert (pool.slots, pool.description) == (-1, "the db")
    assert client.patch(f"{API}/pools/etl/db", json={"name": "etl/db", "include_deferred": True},
                        headers=op).get_json()["include_deferred"] is True

    assert client.delete(f"{API}/pools/etl/db", headers=op).status_code == 204
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    assert_json_error(client.delete(f"{API}/pools/etl/db", headers=op), 404)
    assert [e for e, _ in api_audit(web_store)] == ["pool.set", "pool.set", "pool.set", "pool.delete"]


@pytest.mark.parametrize("slots", [2**31, 10**30, -2, 1.5, "4", True, None])
def test_absurd_slots_are_400_never_500(client: FlaskClient, op: dict[str, str], web_store: Store,
                                        slots: Any) -> None:
    assert_json_error(client.post(f"{API}/pools", json={"name": "p", "slots": slots}, headers=op), 400)
    assert_json_error(client.patch(f"{API}/pools/default_pool", json={"slots": slots}, headers=op), 400)
    assert [(p.name, p.slots) for p in web_store.list_pools()] == [("default_pool", 128)]


def test_default_pool_can_be_resized_but_not_deleted_or_renamed(client: FlaskClient, op: dict[str, str],
                                                               web_store: Store) -> None:
    assert_json_error(client.delete(f"{API}/pools/default_pool", headers=op), 400)
    assert_json_error(client.patch(f"{API}/pools/default_pool", json={"name": "other", "slots": 3}, headers=op), 400)
    assert client.patch(f"{API}/pools/default_pool?update_mask=slots", json={"slots": 64},
                        headers=op).get_json()["slots"] == 64
    assert web_store.get_pool("default_pool").slots == 64
    assert_json_error(client.patch(f"{API}/pools/missing", json={"slots": 1}, headers=op), 404)
    assert_json_error(client.get(f"{API}/pools/missing", headers=op), 404)


def _pools_of_task_instances(store: Store) -> dict[str, set[str]]:
    """Pool name -> the states of the task instances in it."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT pool, state FROM task_instance").all()
    out: dict[str, set[str]] = {}
    for pool, state in rows:
        out.setdefault(pool, set()).add(state)
    return out


def test_a_pool_is_renamed_and_its_unfinished_task_instances_follow(client: FlaskClient, op: dict[str, str],
                                                                    web_store: Store, seeded: Seeded) -> None:
    web_store.set_pool("etl", 4, "nightly loads")
    with web_store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE task_instance SET pool = 'etl'")
    finished = _pools_of_task_instances(web_store)["etl"] - {"running", "queued", "pending", "scheduled"}
    assert finished  # the example's success and failed runs

    renamed = client.patch(f"{API}/pools/etl?update_mask=name", json={"name": "loads"}, headers=op)
    assert renamed.status_code == 200, renamed.get_json()
    body = renamed.get_json()
    assert (body["name"], body["slots"], body["description"]) == ("loads", 4, "nightly loads")
    assert (body["running_slots"], body["queued_slots"], body["open_slots"]) == (1, 1, 2)
    assert "running" in _pools_of_task_instances(web_store)["loads"]
    assert _pools_of_task_instances(web_store)["etl"] == finished  # history keeps the name it ran in
    assert_json_error(client.get(f"{API}/pools/etl", headers=op), 404)

    again = client.patch(f"{API}/pools/loads", json={"name": "batch", "slots": 6}, headers=op).get_json()
    assert (again["name"], again["slots"], again["running_slots"]) == ("batch", 6, 1)
    assert [p.name for p in web_store.list_pools()] == ["batch", "default_pool"]
    assert [extra for _, extra in api_audit(web_store)] == [
        {"pool": "loads", "slots": 4, "renamed_from": "etl"}, {"pool": "batch", "slots": 6, "renamed_from": "loads"}]


def test_a_rename_to_a_taken_name_is_409_and_changes_nothing(client: FlaskClient, op: dict[str, str],
                                                             web_store: Store) -> None:
    web_store.set_pool("a", 1)
    web_store.set_pool("b", 2)
    assert_json_error(client.patch(f"{API}/pools/a", json={"name": "b", "slots": 7}, headers=op), 409)
    assert_json_error(client.patch(f"{API}/pools/a", json={"name": "default_pool"}, headers=op), 409)
    assert [(p.name, p.slots) for p in web_store.list_pools()] == [("a", 1), ("b", 2), ("default_pool", 128)]
    assert api_audit(web_store) == []


@pytest.mark.parametrize("url, body, status", [
    ("pools/default_pool?update_mask=name", {"name": "other"}, 400),
    ("pools/default_pool?update_mask=slots", {"name": "other", "slots": 3}, 400),
    ("pools/a", {"name": ""}, 400),
    ("pools/a", {"name": "x" * 300}, 400),
    ("pools/a", {"name": 5}, 400),
    ("pools/a?update_mask=name", {"slots": 3}, 400),
    ("pools/missing", {"name": "found"}, 404),
])
def test_bad_renames_are_json_errors(client: FlaskClient, op: dict[str, str], web_store: Store,
                                     url: str, body: dict[str, Any], status: int) -> None:
    web_store.set_pool("a", 1)
    assert_json_error(client.patch(f"{API}/{url}", json=body, headers=op), status)
    assert [p.name for p in web_store.list_pools()] == ["a", "default_pool"]


def test_an_update_mask_without_name_leaves_the_name_alone(client: FlaskClient, op: dict[str, str],
                                                          web_store: Store) -> None:
    web_store.set_pool("a", 1)
    body = client.patch(f"{API}/pools/a?update_mask=slots", json={"name": "b", "slots": 3}, headers=op).get_json()
    assert (body["name"], body["slots"]) == ("a", 3)
    assert client.patch(f"{API}/pools/a?update_mask=name", json={"name": "a"}, headers=op).get_json()["name"] == "a"
    assert [(p.name, p.slots) for p in web_store.list_pools()] == [("a", 3), ("default_pool", 128)]


def test_pools_are_paged_and_sorted(client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    for name, slots in (("a", 5), ("b", 1), ("c", 300)):
        web_store.set_pool(name, slots)
    listed = client.get(f"{API}/pools?order_by=-slots&limit=2", headers=op).get_json()
    assert [p["name"] for p in listed["pools"]] == ["c", "default_pool"] and listed["total_entries"] == 4


# --- version and config -----------------------------------------------------------------------------------

def test_the_version_is_flowctls(client: FlaskClient, viewer: dict[str, str]) -> None:
    import flowctl

    assert client.get(f"{API}/version", headers=viewer).get_json() == {"version": flowctl.__version__,
                                                                        "git_version": None}


def test_the_config_is_403_unless_exposed(client: FlaskClient, op: dict[str, str]) -> None:
    body = assert_json_error(client.get(f"{API}/config", headers=op), 403)
    assert "expose_config" in body["detail"]


def test_an_exposed_config_hides_its_secrets(web_settings: Settings, web_store: Store, clock: Clock,
                                             users: dict[str, str]) -> None:
    settings = web_settings.replace(webserver__expose_config=True,
                                    celery__broker_url="redis://:brokerpw@redis:6379/0")
    app: Flask = create_app(settings, web_store, clock)
    client = app.test_client()
    response = client.get(f"{API}/config", headers=basic("op", users["op"]))
    assert response.status_code == 200
    options = {(s["name"], o["key"]): o["value"] for s in response.get_json()["sections"] for o in s["options"]}
    assert options[("webserver", "expose_config")] == "true" and options[("core", "parallelism")] == "32"
    for secret in (("webserver", "secret_key"), ("database", "sql_alchemy_conn"), ("celery", "broker_url")):
        assert options[secret] == "< hidden >"
    text = response.get_data(as_text=True)
    assert "brokerpw" not in text and str(settings.get("webserver", "secret_key")) not in text
    core = client.get(f"{API}/config?section=core", headers=basic("op", users["op"])).get_json()
    assert [s["name"] for s in core["sections"]] == ["core"]
    assert_json_error(client.get(f"{API}/config?section=nope", headers=basic("op", users["op"])), 404)
    assert_json_error(client.get(f"{API}/config", headers=basic("viewer", users["viewer"])), 403)


# --- event logs --------------------------------------------------------------------------------------------

def _audit_rows(store: Store, clock: Clock) -> None:
    store.audit("trigger", now=T0, source="ui", owner="ada", dag_id="d1", run_id="r1")
    store.audit("clear", now=T0.replace(hour=7), source="cli", owner="bob", dag_id="d1", task_id="t1")
    store.audit("variable.set", now=T0.replace(hour=8), source="api", owner="ada", extra={"key": "k"})


def test_event_logs_list_the_audit_log_with_airflows_fields_and_filters(
        client: FlaskClient, viewer: dict[str, str], web_store: Store, clock: Clock) -> None:
    _audit_rows(web_store, clock)
    listed = client.get(f"{API}/eventLogs?dag_id=d1", headers=viewer).get_json()
    assert listed["total_entries"] == 2
    first = listed["event_logs"][0]
    assert {k: first[k] for k in ("event", "dag_id", "run_id", "owner", "execution_date")} == {
        "event": "trigger", "dag_id": "d1", "run_id": "r1", "owner": "ada", "execution_date": None}
    assert first["when"].startswith("2024-03-01T06:00:00")
    assert {"event_log_id", "task_id", "extra", "map_index", "try_number"} <= set(first)

    def events(query: str) -> list[str]:
        body = client.get(f"{API}/eventLogs?{query}", headers=viewer).get_json()
        return [e["event"] for e in body["event_logs"] if e["event"] != "login_failed"]

    assert events("owner=ada&order_by=-when") == ["variable.set", "trigger"]
    assert events("task_id=t1") == ["clear"]
    assert events("after=2024-03-01T06:30:00Z&before=2024-03-01T07:30:00Z") == ["clear"]
    assert events("event=variable.set") == ["variable.set"]
    assert_json_error(client.get(f"{API}/eventLogs?after=yesterday-ish", headers=viewer), 400)
    assert_json_error(client.get(f"{API}/eventLogs?order_by=extra", headers=viewer), 400)

    one = client.get(f"{API}/eventLogs/{first['event_log_id']}", headers=viewer)
    assert one.status_code == 200 and one.get_json() == first
    for missing in ("999999", "99999999999999999999", "abc"):
        assert_json_error(client.get(f"{API}/eventLogs/{missing}", headers=viewer), 404)


def test_event_logs_filter_by_map_index_try_number_and_included_or_excluded_events(
        client: FlaskClient, viewer: dict[str, str], web_store: Store, clock: Clock) -> None:
    _audit_rows(web_store, clock)
    web_store.audit("mark_success", now=T0.replace(hour=9), source="api", owner="ada", dag_id="d1",
                    task_id="t1", run_id="r1", map_index=2, try_number=3)

    def events(query: str) -> list[str]:
        body = client.get(f"{API}/eventLogs?{query}", headers=viewer).get_json()
        return [e["event"] for e in body["event_logs"] if e["event"] != "login_failed"]

    assert events("included_events=nothing_such") == []
    assert events("included_events=clear,trigger") == ["trigger", "clear"]
    assert events("included_events=clear&included_events=variable.set") == ["clear", "variable.set"]
    assert events("excluded_events=clear,variable.set") == ["trigger", "mark_success"]
    assert events("map_index=2") == ["mark_success"]
    assert events("try_number=3&dag_id=d1") == ["mark_success"]
    assert events("try_number=1") == []
    for bad in ("map_index=two", "try_number=-1", "map_index=99999999999999999999"):
        assert_json_error(client.get(f"{API}/eventLogs?{bad}", headers=viewer), 400)


def test_event_logs_of_a_dag_the_user_may_not_see_are_hidden(
        tmp_path: Path, client: FlaskClient, viewer: dict[str, str], users: dict[str, str],
        web_store: Store) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "secret_dag.py").write_text(
        "from datetime import datetime\nfrom flowctl import DAG\nfrom flowctl.operators.empty import EmptyOperator\n"
        "with DAG('secret_dag', schedule=None, start_date=datetime(2024, 1, 1), "
        "access_control={'Op': {'can_read'}}):\n    EmptyOperator(task_id='t')\n")
    sync_example(web_store, folder / "secret_dag.py", T0)
    web_store.audit("trigger", now=T0, source="ui", owner="ada", dag_id="secret_dag")
    row_id = web_store.list_audit(dag_id="secret_dag")[0].id
    assert client.get(f"{API}/eventLogs?dag_id=secret_dag", headers=viewer).get_json()["total_entries"] == 0
    assert_json_error(client.get(f"{API}/eventLogs/{row_id}", headers=viewer), 404)
    admin = basic("admin", users["admin"])
    assert client.get(f"{API}/eventLogs/{row_id}", headers=admin).get_json()["dag_id"] == "secret_dag"


def test_every_api_change_is_an_audit_row_with_source_api_and_its_user(
        client: FlaskClient, op: dict[str, str], web_store: Store) -> None:
    client.post(f"{API}/variables", json={"key": "k", "value": "v"}, headers=op)
    client.post(f"{API}/pools", json={"name": "p", "slots": 1}, headers=op)
    client.post(f"{API}/connections", json={"connection_id": "c", "conn_type": "http"}, headers=op)
    rows = [a for a in web_store.list_audit() if a.source == "api"]
    assert sorted(a.event for a in rows) == ["connection.set", "pool.set", "variable.set"]
    assert {a.owner for a in rows} == {"op"}
