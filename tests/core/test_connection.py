"""The connection record and its URI and JSON forms."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowctl.core.connection import Connection, ConnectionFormatError, from_json_dict, parse_uri


def test_a_uri_gives_every_field_with_special_characters_unquoted() -> None:
    conn = parse_uri("db", "postgresql://us%40er:p%40ss%3Aw@db.example.com:5433/my%20db?sslmode=require")
    assert conn == Connection(conn_id="db", conn_type="postgres", host="db.example.com", login="us@er",
                              password="p@ss:w", schema="my db", port=5433, extra='{"sslmode": "require"}')
    assert conn.extra_dejson == {"sslmode": "require"}


def test_dashes_in_the_scheme_become_underscores_and_back() -> None:
    conn = parse_uri("g", "google-cloud-platform://")
    assert conn.conn_type == "google_cloud_platform"
    assert conn.get_uri().startswith("google-cloud-platform://")


def test_an_extra_that_is_not_flat_strings_travels_as_json() -> None:
    conn = from_json_dict("h", {"conn_type": "http", "host": "api", "extra": {"retries": [1, 2], "x": True}})
    assert "__extra__=" in conn.get_uri()
    assert parse_uri("h", conn.get_uri()).extra_dejson == {"retries": [1, 2], "x": True}


@given(login=st.text(min_size=1, max_size=12), password=st.text(min_size=1, max_size=12),
       schema=st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s),
       port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)))
def test_render_then_parse_gives_back_the_same_connection(login: str, password: str, schema: str,
                                                          port: int | None) -> None:
    conn = Connection(conn_id="c", conn_type="postgres", host="db.example.com", login=login,
                      password=password, schema=schema, port=port, extra='{"a": "b"}')
    assert parse_uri("c", conn.get_uri()) == conn


def test_the_json_form_round_trips() -> None:
    conn = Connection(conn_id="c", conn_type="mysql", host="h", login="l", password="p", schema="s",
                      port=3306, extra='{"charset": "utf8"}', description="main db")
    data = conn.to_json_dict()
    assert data["extra"] == {"charset": "utf8"}
    assert from_json_dict("c", data) == conn


def test_a_json_object_may_hold_a_uri() -> None:
    assert from_json_dict("c", {"uri": "redis://h:6379/0"}).port == 6379


def test_text_that_is_not_a_uri_is_a_clear_error() -> None:
    with pytest.raises(ConnectionFormatError, match="is not a URI"):
        parse_uri("c", "just-a-host")


def test_a_port_that_is_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(ConnectionFormatError, match="port"):
        parse_uri("c", "http://h:abc")
    with pytest.raises(ConnectionFormatError, match="port"):
        from_json_dict("c", {"conn_type": "http", "port": "x"})


def test_unknown_json_fields_are_refused_by_name() -> None:
    with pytest.raises(ConnectionFormatError, match="hots"):
        from_json_dict("c", {"conn_type": "http", "hots": "typo"})


@pytest.mark.parametrize("extra", [[1], "[1]", 7, "7", "not json", True])
def test_an_extra_that_is_not_a_json_object_is_refused(extra: object) -> None:
    with pytest.raises(ConnectionFormatError, match="connection 'c': extra must be a JSON object"):
        from_json_dict("c", {"conn_type": "http", "extra": extra})


def test_an_extra_object_may_come_as_an_object_or_as_its_json_text() -> None:
    assert from_json_dict("c", {"extra": {"a": 1}}).extra_dejson == {"a": 1}
    assert from_json_dict("c", {"extra": '{"a": 1}'}).extra_dejson == {"a": 1}
    assert from_json_dict("c", {"extra": ""}).extra is None


@pytest.mark.parametrize("port", [True, False, 5432.5, 5432.0, [5432], {"p": 1}])
def test_a_port_that_is_not_a_whole_number_is_refused_not_converted(port: object) -> None:
    with pytest.raises(ConnectionFormatError, match="port"):
        from_json_dict("c", {"conn_type": "http", "port": port})


def test_a_port_may_be_a_number_or_its_digits_as_text() -> None:
    assert from_json_dict("c", {"port": 5432}).port == 5432
    assert from_json_dict("c", {"port": "5432"}).port == 5432


def test_a_uri_field_that_is_not_text_is_refused() -> None:
    with pytest.raises(ConnectionFormatError, match="uri must be text"):
        from_json_dict("c", {"uri": 5})
