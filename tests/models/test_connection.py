"""flowctl.models.Connection: Airflow's Connection object, from fields, URIs, env and the store."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowctl.core.errors import AirflowNotFoundException
from flowctl.db.secrets import generate_key
from flowctl.models.connection import Connection
from flowctl.models.variable import set_variable_backend


@pytest.fixture()
def backend(sqlite_store: Any) -> Iterator[Any]:
    sqlite_store.use_fernet_key(generate_key())
    set_variable_backend(sqlite_store)
    yield sqlite_store
    set_variable_backend(None)


def test_a_connection_from_a_uri_has_airflows_attributes() -> None:
    conn = Connection(conn_id="pg", uri="postgresql://u:p%40ss@db:5432/dw?sslmode=require")
    assert (conn.conn_type, conn.host, conn.login, conn.password, conn.schema, conn.port) == (
        "postgres", "db", "u", "p@ss", "dw", 5432)
    assert conn.extra_dejson == {"sslmode": "require"}
    assert conn.get_uri() == "postgres://u:p%40ss@db:5432/dw?sslmode=require"


def test_a_connection_from_fields_accepts_extra_as_a_dict() -> None:
    conn = Connection(conn_id="api", conn_type="http", host="example.com", extra={"timeout": 5})
    assert conn.extra_dejson == {"timeout": 5}
    assert "password" not in repr(conn)


def test_uri_and_fields_together_are_refused() -> None:
    with pytest.raises(ValueError, match="either uri"):
        Connection(conn_id="x", uri="http://h", host="other")


def test_a_connection_is_found_in_the_environment_first(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_CONN_MY_API", "http://env-host:8080")
    assert Connection.get_connection_from_secrets("my_api").host == "env-host"
    monkeypatch.setenv("AIRFLOW_CONN_JSON_ONE", '{"conn_type": "redis", "host": "cache"}')
    assert Connection.get_connection_from_secrets("json_one").conn_type == "redis"


def test_a_connection_is_read_from_the_store_decrypted(backend: Any) -> None:
    backend.add_connection(Connection(conn_id="db", uri="mysql://u:secret-pw@h/s").to_record())
    conn = Connection.get_connection_from_secrets("db")
    assert conn.password == "secret-pw" and conn.schema == "s"


def test_a_missing_connection_raises_airflows_not_found_exception(backend: Any) -> None:
    with pytest.raises(AirflowNotFoundException, match="`nope` isn't defined"):
        Connection.get_connection_from_secrets("nope")


def test_a_connection_password_is_masked_in_this_process_once_read(backend: Any) -> None:
    from flowctl.core.masking import process_masker

    backend.add_connection(Connection(conn_id="m", uri="http://u:mask-me-pw@h").to_record())
    Connection.get_connection_from_secrets("m")
    assert "mask-me-pw" not in process_masker().redact_text("login with mask-me-pw")
