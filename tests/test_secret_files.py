"""Reading the files of Airflow's local filesystem secrets backend (flowctl/secret_files.py), as DAG.test() does."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowctl.core.errors import FlowctlError
from flowctl.secret_files import read_connections, read_variables


def test_an_env_file_of_variables_takes_comments_quotes_and_equals_signs_in_values(tmp_path: Path) -> None:
    path = tmp_path / "vars.env"
    path.write_text("# a comment\n\nplain=text\nquoted = \"with spaces\"\nquery=a=b&c=d\n")
    assert read_variables(str(path)) == {"plain": "text", "quoted": "with spaces", "query": "a=b&c=d"}


@pytest.mark.parametrize(("text", "problem"), [
    ("a=1\na=2\n", "line 2 defines the variable 'a' again"),
    ("a=1\nno equals sign\n", "line 2: expected KEY=VALUE"),
    ("=value\n", "line 1: expected KEY=VALUE"),
])
def test_a_bad_env_file_of_variables_is_one_error_naming_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "vars.env"
    path.write_text(text)
    with pytest.raises(FlowctlError, match=problem):
        read_variables(str(path))


def test_json_and_yaml_variables_that_are_not_text_become_their_json_text(tmp_path: Path) -> None:
    (tmp_path / "vars.json").write_text(json.dumps({"text": "x", "limits": {"rows": 5}, "count": 3}))
    (tmp_path / "vars.yml").write_text("text: x\nlimits: {rows: 5}\ncount: 3\n")
    expected = {"text": "x", "limits": '{"rows": 5}', "count": "3"}
    assert read_variables(str(tmp_path / "vars.json")) == expected
    assert read_variables(str(tmp_path / "vars.yml")) == expected


def test_connections_come_by_conn_id_from_uris_or_fields(tmp_path: Path) -> None:
    path = tmp_path / "conns.env"
    path.write_text('db=postgres://me:pw@host:5433/sales\napi={"conn_type": "http", "host": "example.com"}\n')
    conns = read_connections(str(path))
    assert (conns["db"].host, conns["db"].login, conns["db"].port, conns["db"].schema) == ("host", "me", 5433, "sales")
    assert (conns["api"].conn_type, conns["api"].host) == ("http", "example.com")


def test_a_connection_file_with_a_bad_entry_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "conns.json"
    path.write_text(json.dumps({"good": "http://example.com", "bad": 42}))
    with pytest.raises(FlowctlError, match="connection 'bad'"):
        read_connections(str(path))


def test_a_file_whose_extension_says_no_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vars.txt"
    path.write_text("a=1\n")
    with pytest.raises(FlowctlError, match=r"name it \.json, \.yaml, \.yml or \.env"):
        read_variables(str(path))
