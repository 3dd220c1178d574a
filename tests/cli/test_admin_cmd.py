"""`flowctl variables | connections | pools | users | rotate-fernet-key` through main(), on a migrated SQLite db."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from flowctl.db.secrets import generate_key
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]


@pytest.fixture()
def home(keyed_home: Path) -> Path:
    return keyed_home


def _json(capsys: Out, *args: str) -> Any:
    code, out, err = run_cli(capsys, *args, "--output", "json")
    assert code == 0, err
    return json.loads(out)


def _raw(sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(os.environ["FLOWCTL__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


# --- variables --------------------------------------------------------------------------------

def test_variables_set_get_list_and_delete(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "variables", "set", "region", "eu-west-1", "--description", "where")[0] == 0
    assert run_cli(capsys, "variables", "get", "region")[1] == "eu-west-1\n"
    assert _json(capsys, "variables", "list") == [{"key": "region", "description": "where"}]
    assert run_cli(capsys, "variables", "delete", "region")[0] == 0
    assert _json(capsys, "variables", "list") == []


def test_getting_a_missing_variable_is_one_line_and_exit_3_unless_a_default_is_given(home: Path,
                                                                                    capsys: Out) -> None:
    code, out, err = run_cli(capsys, "variables", "get", "nope")
    assert code == 3 and out == ""
    assert err.startswith("flowctl: error: ") and "nope" in err and err.count("\n") == 1
    assert run_cli(capsys, "variables", "get", "nope", "--default", "fallback")[1] == "fallback\n"


def test_get_sees_variables_and_connections_from_the_environment_first_as_tasks_do(
        home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``variables get`` / ``connections get`` read the database only, so a value a task got from
    FLOWCTL_VAR_* / FLOWCTL_CONN_* was "not found" from the CLI (Airflow's get commands ask the same
    backends as tasks, environment first)."""
    assert run_cli(capsys, "variables", "set", "region", "eu-west-1")[0] == 0
    monkeypatch.setenv("FLOWCTL_VAR_REGION", "us-east-2")
    monkeypatch.setenv("AIRFLOW_VAR_ONLY_ENV", "yes")
    assert run_cli(capsys, "variables", "get", "region")[1] == "us-east-2\n"
    assert run_cli(capsys, "variables", "get", "only_env")[1] == "yes\n"
    monkeypatch.setenv("FLOWCTL_CONN_WAREHOUSE", "postgresql://etl:s3cret@db.example:5433/sales")
    code, out, err = run_cli(capsys, "connections", "get", "warehouse", "-o", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["host"] == "db.example" and shown["port"] == 5433 and "s3cret" not in out


def test_a_json_variable_is_checked_on_set_and_pretty_printed_on_get(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "variables", "set", "cfg", '{"a": [1, 2]}', "--json")[0] == 0
    assert json.loads(run_cli(capsys, "variables", "get", "cfg", "--json")[1]) == {"a": [1, 2]}
    code, _, err = run_cli(capsys, "variables", "set", "bad", "{not json", "--json")
    assert (code, err) == (2, "flowctl: error: Invalid value for VALUE: not valid JSON: "
                              "Expecting property name enclosed in double quotes (line 1 column 2)\n")


def test_variables_export_to_stdout_masks_sensitive_values_and_a_file_keeps_them(home: Path, capsys: Out) -> None:
    """Before: `variables export -` printed `"my_password": "hunter2"`; `connections export -` masks."""
    assert run_cli(capsys, "variables", "set", "my_password", "hunter2")[0] == 0
    assert run_cli(capsys, "variables", "set", "region", "eu-west-1")[0] == 0
    assert run_cli(capsys, "variables", "set", "cfg", '{"api_key": "k-123456", "n": 1}', "--json")[0] == 0
    code, out, err = run_cli(capsys, "variables", "export", "-")
    assert code == 0, err
    assert json.loads(out) == {"my_password": "***", "region": "eu-west-1", "cfg": {"api_key": "***", "n": 1}}
    target = home / "vars.json"
    assert run_cli(capsys, "variables", "export", str(target))[0] == 0  # a file keeps them, for import
    assert json.loads(target.read_text())["my_password"] == "hunter2"


def test_variables_export_then_import_round_trips(home: Path, capsys: Out) -> None:
    source = home / "in.json"
    source.write_text(json.dumps({"a": "text", "b": {"n": 1}}))
    assert run_cli(capsys, "variables", "import", str(source))[0] == 0
    target = home / "out.json"
    assert run_cli(capsys, "variables", "export", str(target))[0] == 0
    assert json.loads(target.read_text()) == {"a": "text", "b": {"n": 1}}
    assert run_cli(capsys, "variables", "delete", "a")[0] == 0
    assert run_cli(capsys, "variables", "import", str(target))[0] == 0
    assert run_cli(capsys, "variables", "get", "a")[1] == "text\n"


def test_variables_import_and_export_yaml_by_the_file_name(home: Path, capsys: Out) -> None:
    source = home / "in.yaml"
    source.write_text("text: plain words\nnested:\n  n: 1\n  tags: [a, b]\nflag: true\nday: 2024-05-01\n"
                      "quoted_number: '0123'\n")
    code, out, err = run_cli(capsys, "variables", "import", str(source))
    assert (code, out, err) == (0, "5 variable(s) imported, 0 skipped\n", "")
    assert run_cli(capsys, "variables", "get", "day")[1] == "2024-05-01\n"  # a YAML date: its ISO text
    assert run_cli(capsys, "variables", "get", "quoted_number")[1] == "0123\n"
    assert json.loads(run_cli(capsys, "variables", "get", "nested")[1]) == {"n": 1, "tags": ["a", "b"]}
    target = home / "out.yml"
    assert run_cli(capsys, "variables", "export", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    exported = yaml.safe_load(target.read_text())
    assert exported == {"day": "2024-05-01", "flag": True, "nested": {"n": 1, "tags": ["a", "b"]},
                        "quoted_number": "0123", "text": "plain words"}
    for key in exported:
        run_cli(capsys, "variables", "delete", key)
    assert run_cli(capsys, "variables", "import", str(target))[0] == 0
    assert run_cli(capsys, "variables", "get", "quoted_number")[1] == "0123\n"
    assert run_cli(capsys, "variables", "get", "flag")[1] == "true\n"


@pytest.fixture()
def two_variables(home: Path, capsys: Out) -> Path:
    """`old` set to "before"; a file setting `old` and `new`."""
    run_cli(capsys, "variables", "set", "old", "before")
    source = home / "vars.json"
    source.write_text(json.dumps({"old": "after", "new": "fresh"}))
    return source


def test_variables_import_overwrites_existing_keys_by_default(two_variables: Path, capsys: Out) -> None:
    code, out, _ = run_cli(capsys, "variables", "import", str(two_variables))
    assert (code, out) == (0, "2 variable(s) imported (1 replaced), 0 skipped\n")
    assert run_cli(capsys, "variables", "get", "old")[1] == "after\n"


def test_variables_import_can_skip_existing_keys(two_variables: Path, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "variables", "import", str(two_variables), "--action-on-existing-key", "skip")
    assert (code, out, err) == (0, "1 variable(s) imported, 1 skipped\n", "skipped: variable 'old' exists already\n")
    assert run_cli(capsys, "variables", "get", "old")[1] == "before\n"
    assert run_cli(capsys, "variables", "get", "new")[1] == "fresh\n"


def test_variables_import_with_fail_writes_nothing_when_a_key_exists(two_variables: Path, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "variables", "import", str(two_variables), "--action-on-existing-key", "fail")
    assert code == 1 and out == ""
    assert err == ("flowctl: error: variable(s) old exist already; nothing imported "
                   "(--action-on-existing-key overwrite or skip)\n")
    assert run_cli(capsys, "variables", "get", "new")[0] == 3
    assert run_cli(capsys, "variables", "get", "old")[1] == "before\n"


@pytest.mark.parametrize("name, content, says", [
    ("v.json", "{not json", "is not valid JSON"),
    ("v.json", "[1, 2]", "at the top level, not a list"),
    ("v.yaml", "- a\n- b\n", "at the top level, not a list"),
    ("v.yaml", "a: [1\n", "is not valid YAML"),
    ("v.yaml", "on: 1\n", "the key True is not text"),
    ("v.json", '{"ok": 1, "": 2}', "the variable key '' is empty"),
])
def test_a_bad_variables_file_is_one_line_and_imports_nothing(home: Path, capsys: Out, name: str, content: str,
                                                              says: str) -> None:
    source = home / name
    source.write_text(content)
    code, out, err = run_cli(capsys, "variables", "import", str(source))
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and says in err, err
    assert _json(capsys, "variables", "list") == []


def test_variables_are_encrypted_in_the_database(home: Path, capsys: Out) -> None:
    run_cli(capsys, "variables", "set", "token", "plain-text-secret")
    [(val,)] = _raw("SELECT val FROM variable")
    assert "plain-text-secret" not in val


# --- connections ------------------------------------------------------------------------------

def test_a_connection_added_by_uri_is_shown_with_the_password_masked(home: Path, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "connections", "add", "pg", "--conn-uri",
                        "postgres://etl:TopSecretPw@db.example.com:5432/dw?sslmode=require")
    assert code == 0, err
    got = _json(capsys, "connections", "get", "pg")
    assert got["password"] == "***" and got["host"] == "db.example.com" and got["port"] == 5432
    assert got["extra"] == {"sslmode": "require"}
    assert got["uri"] == "postgres://etl:***@db.example.com:5432/dw?sslmode=require"
    for args in (("connections", "get", "pg"), ("connections", "list"), ("connections", "list", "-o", "json"),
                 ("connections", "export", "-")):
        assert "TopSecretPw" not in run_cli(capsys, *args)[1]
    [(password,)] = _raw("SELECT password FROM connection")
    assert "TopSecretPw" not in password


def test_a_connection_can_be_added_from_fields_or_json(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "connections", "add", "api", "--conn-type", "http", "--conn-host", "api.example.com",
                "--conn-port", "443", "--conn-extra", '{"verify": false}')[0] == 0
    assert run_cli(capsys, "connections", "add", "js", "--conn-json",
                '{"conn_type": "redis", "host": "cache", "port": 6379}')[0] == 0
    rows = {r["conn_id"]: r for r in _json(capsys, "connections", "list")}
    assert rows["api"]["extra"] == {"verify": False} and rows["api"]["port"] == 443
    assert rows["js"]["conn_type"] == "redis"


@pytest.mark.parametrize(("option", "value", "problem"), [
    ("--conn-json", "{bad", "not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
    ("--conn-json", "[1]", "must be a JSON object, e.g. '{\"key\": \"value\"}'"),
    ("--conn-extra", "{bad", "not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
    ("--conn-extra", "7", "must be a JSON object, e.g. '{\"key\": \"value\"}'"),
])
def test_json_that_is_not_an_object_given_to_connections_add_is_a_usage_error(home: Path, capsys: Out, option: str,
                                                                             value: str, problem: str) -> None:
    """Before: exit 1, where dags trigger --conf '{bad' exits 2 (a bad option value is bad usage)."""
    extra = ("--conn-type", "http") if option == "--conn-extra" else ()
    code, out, err = run_cli(capsys, "connections", "add", "c", *extra, option, value)
    assert (code, out, err) == (2, "", f"flowctl: error: Invalid value for {option}: {problem}\n")


def test_adding_a_connection_twice_or_without_a_type_fails_in_one_line(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "connections", "add", "c", "--conn-uri", "http://h")[0] == 0
    code, _, err = run_cli(capsys, "connections", "add", "c", "--conn-uri", "http://h")
    assert code == 1 and "exists already" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "connections", "add", "d", "--conn-host", "h")
    assert code == 2 and "--conn-type" in err


def test_connections_export_to_a_file_keeps_passwords_for_import_and_is_private(home: Path,
                                                                               capsys: Out) -> None:
    run_cli(capsys, "connections", "add", "pg", "--conn-uri", "postgres://u:pw-123@h:5432/db")
    target = home / "conns.json"
    assert run_cli(capsys, "connections", "export", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["pg"]["password"] == "pw-123"
    assert run_cli(capsys, "connections", "delete", "pg")[0] == 0
    assert run_cli(capsys, "connections", "import", str(target))[0] == 0
    code, out, err = run_cli(capsys, "connections", "import", str(target))
    assert code == 0 and out == "0 connection(s) imported, 1 skipped, 0 failed\n" and "'pg' exists already" in err
    assert run_cli(capsys, "connections", "import", str(target), "--overwrite")[0] == 0
    assert _json(capsys, "connections", "get", "pg")["uri"] == "postgres://u:***@h:5432/db"


def test_connections_import_adds_the_new_ids_and_skips_the_existing_ones_unless_overwrite(home: Path,
                                                                                        capsys: Out) -> None:
    """Before: one existing conn_id made the whole import fail, and nothing was added."""
    run_cli(capsys, "connections", "add", "old", "--conn-uri", "http://h")
    source = home / "conns.json"
    source.write_text(json.dumps({"new": "http://n", "old": "http://o"}))
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 0 and out.splitlines()[-1] == "1 connection(s) imported, 1 skipped, 0 failed"
    assert err == "skipped: connection 'old' exists already (--overwrite replaces it)\n"
    assert _json(capsys, "connections", "get", "new")["host"] == "n"
    assert _json(capsys, "connections", "get", "old")["host"] == "h"
    code, out, _ = run_cli(capsys, "connections", "import", str(source), "--overwrite")
    assert code == 0 and out.splitlines()[-1] == "2 connection(s) imported (2 replaced), 0 skipped, 0 failed"
    assert _json(capsys, "connections", "get", "old")["host"] == "o"


def test_connections_import_names_an_entry_too_long_for_the_database_and_imports_the_rest(home: Path,
                                                                                         capsys: Out) -> None:
    """Before: on PostgreSQL the import stopped at the long host with a database error; ok_c was never tried."""
    source = home / "conns.json"
    source.write_text(json.dumps({"ok_a": "http://a", "ok_b": {"conn_type": "http", "host": "h" * 1000},
                                  "ok_c": "http://c"}))
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1 and out.splitlines()[-1] == "2 connection(s) imported, 0 skipped, 1 failed"
    assert err == "failed: connection 'ok_b': host has 1000 characters; at most 500 fit in the database\n"
    assert [r["conn_id"] for r in _json(capsys, "connections", "list")] == ["ok_a", "ok_c"]


@pytest.mark.parametrize("conn_id", ["", "  ", "a b", "c" * 300])
def test_connections_add_refuses_a_conn_id_that_is_empty_too_long_or_not_letters_digits_and_dots(
        home: Path, capsys: Out, conn_id: str) -> None:
    code, _, err = run_cli(capsys, "connections", "add", conn_id, "--conn-uri", "http://h")
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "must be 1 to 250 letters, digits, '_', '.' or '-'" in err
    assert _json(capsys, "connections", "list") == []


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--conn-extra", "[1]", "Invalid value for --conn-extra: must be a JSON object"),
    ("--conn-extra", "7", "Invalid value for --conn-extra: must be a JSON object"),
    ("--conn-json", '{"conn_type": "http", "port": true}', "port"),
    ("--conn-json", '{"conn_type": "http", "port": 80.5}', "port"),
    ("--conn-json", '{"conn_type": "http", "extra": [1]}', "extra must be a JSON object"),
    ("--conn-json", '{"conn_type": "http", "host": 5}', "host must be text"),
])
def test_connections_add_refuses_an_extra_that_is_not_an_object_and_wrongly_typed_fields(
        home: Path, capsys: Out, option: str, value: str, says: str) -> None:
    """Before: ``--conn-extra '[1]'`` and ``--conn-json '{"port": true}'`` (port 1) were stored."""
    type_option = ("--conn-type", "http") if option == "--conn-extra" else ()
    code, _, err = run_cli(capsys, "connections", "add", "c", *type_option, option, value)
    assert code == (2 if option == "--conn-extra" else 1) and len(err.splitlines()) == 1 and says in err, err
    assert _json(capsys, "connections", "list") == []


def test_output_yaml_prints_the_rows_the_json_output_prints(home: Path, capsys: Out) -> None:
    run_cli(capsys, "variables", "set", "region", "eu-west-1", "--description", "where: here")
    run_cli(capsys, "connections", "add", "pg", "--conn-uri", "postgres://etl:TopSecretPw@db:5432/dw?sslmode=require")
    run_cli(capsys, "pools", "set", "etl", "4", "nightly loads")
    for args in (("variables", "list"), ("connections", "list"), ("connections", "get", "pg"), ("pools", "list"),
                 ("pools", "get", "etl")):
        code, out, err = run_cli(capsys, *args, "-o", "yaml")
        assert code == 0, err
        assert yaml.safe_load(out) == _json(capsys, *args), args
        assert "TopSecretPw" not in out
    assert run_cli(capsys, "variables", "list", "-o", "yaml")[1] == "- key: region\n  description: 'where: here'\n"


def test_output_yaml_of_nothing_is_an_empty_list(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "variables", "list", "--output", "yaml") == (0, "[]\n", "")


def test_deleting_a_missing_connection_exits_3(home: Path, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "connections", "delete", "nope")
    assert code == 3 and "nope" in err


# --- pools ------------------------------------------------------------------------------------

def test_pools_set_list_and_delete_with_usage_columns(home: Path, capsys: Out) -> None:
    rows = _json(capsys, "pools", "set", "etl", "4", "nightly loads")
    assert rows == [{"pool": "etl", "slots": 4, "description": "nightly loads", "include_deferred": False,
                     "running": 0, "queued": 0, "open_slots": 4}]
    assert "etl" in [r["pool"] for r in _json(capsys, "pools", "list")]
    assert run_cli(capsys, "pools", "delete", "etl")[0] == 0
    assert run_cli(capsys, "pools", "get", "etl")[0] == 3


@pytest.mark.parametrize("bad", [{"slots": "x"}, {"slots": -7}])
def test_pools_import_writes_nothing_when_one_entry_is_bad(home: Path, capsys: Out, bad: dict[str, Any]) -> None:
    """Before: zz1 was created, then zz2 failed."""
    source = home / "pools.json"
    source.write_text(json.dumps({"zz1": {"slots": 3}, "zz2": bad}))
    code, out, err = run_cli(capsys, "pools", "import", str(source))
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and "'zz2'" in err and "nothing imported" in err
    assert "zz1" not in [r["pool"] for r in _json(capsys, "pools", "list")]


def test_pools_set_without_a_description_keeps_the_existing_one(home: Path, capsys: Out) -> None:
    """Before: ``pools set p1 7`` erased the description of p1."""
    run_cli(capsys, "pools", "set", "p1", "4", "nightly loads")
    assert _json(capsys, "pools", "set", "p1", "7")[0]["description"] == "nightly loads"
    assert _json(capsys, "pools", "get", "p1")[0]["slots"] == 7
    assert _json(capsys, "pools", "set", "p1", "7", "")[0]["description"] == ""


def test_default_pool_cannot_be_deleted(home: Path, capsys: Out) -> None:
    run_cli(capsys, "pools", "set", "default_pool", "128")
    code, _, err = run_cli(capsys, "pools", "delete", "default_pool")
    assert code == 1 and "cannot be deleted" in err


def test_pools_export_then_import_round_trips(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "pools", "set", "a", "2", "first")[0] == 0
    assert run_cli(capsys, "pools", "set", "b", "-1", "unlimited", "--include-deferred")[0] == 0
    target = home / "pools.json"
    assert run_cli(capsys, "pools", "export", str(target))[0] == 0
    exported = json.loads(target.read_text())
    assert exported["b"] == {"slots": -1, "description": "unlimited", "include_deferred": True}
    run_cli(capsys, "pools", "delete", "a")
    assert run_cli(capsys, "pools", "import", str(target))[0] == 0
    assert _json(capsys, "pools", "get", "a")[0]["slots"] == 2


# --- users ------------------------------------------------------------------------------------

def test_users_create_list_add_role_reset_password_and_delete(home: Path, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "users", "create", "-u", "ada", "-e", "ada@example.com", "-f", "Ada",
                          "-l", "Lovelace", "-r", "Admin", "--password", "long enough pw")
    assert code == 0, err
    assert "long enough pw" not in out
    assert run_cli(capsys, "users", "add-role", "-u", "ada", "-r", "Op")[0] == 0
    [user] = _json(capsys, "users", "list")
    assert (user["username"], user["roles"], user["email"]) == ("ada", ["Admin", "Op"], "ada@example.com")
    assert run_cli(capsys, "users", "reset-password", "-u", "ada", "--password", "another long pw")[0] == 0
    [(pw_hash,)] = _raw("SELECT password_hash FROM ab_user")
    assert "another long pw" not in pw_hash
    assert run_cli(capsys, "users", "delete", "-u", "ada")[0] == 0
    assert run_cli(capsys, "users", "delete", "-u", "ada")[0] == 3


def test_an_api_token_is_created_for_a_user_shown_once_and_can_be_revoked(home: Path, capsys: Out,
                                                                         migrated_sqlite_url: str) -> None:
    """Before: the README and the API's 401 offered `Authorization: Bearer`, and nothing could make a token."""
    from datetime import datetime, timezone

    from flowctl.db.engine import make_engine
    from flowctl.db.store import Store

    run_cli(capsys, "users", "create", "-u", "ci", "-r", "Op", "--password", "long enough pw")
    code, out, err = run_cli(capsys, "users", "create-token", "-u", "ci", "--expires-in-days", "30",
                             "--description", "deploy job")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert len(token) >= 40 and token not in _raw("SELECT token_hash FROM api_token")[0]
    store = Store(make_engine(migrated_sqlite_url))
    try:
        user = store.verify_api_token(token, datetime.now(timezone.utc))
        assert user is not None and user.username == "ci"
        assert run_cli(capsys, "users", "revoke-tokens", "-u", "ci")[1].strip() == "Revoked 1 API token(s) of ci"
        assert store.verify_api_token(token, datetime.now(timezone.utc)) is None
    finally:
        store.close()
    code, _, err = run_cli(capsys, "users", "create-token", "-u", "nobody")
    assert code == 3 and err.count("\n") == 1


@pytest.mark.parametrize(("args", "says"), [
    (("-u", ""), "the username must not be empty"),
    (("-u", "  "), "the username must not be empty"),
    (("-u", "ada", "-e", "notanemail"), "'notanemail' is not an e-mail address"),
])
def test_users_create_refuses_a_blank_username_or_a_bad_email_before_asking_for_a_password(
        home: Path, capsys: Out, args: tuple[str, ...], says: str) -> None:
    """Before: users with blank names and e-mail addresses without an @ were created."""
    code, _, err = run_cli(capsys, "users", "create", *args, "-r", "Viewer")  # no password: it would prompt
    assert code == 1 and len(err.splitlines()) == 1 and says in err, err
    assert _json(capsys, "users", "list") == []


def test_a_random_password_is_printed_once_at_creation(home: Path, capsys: Out) -> None:
    code, out, _ = run_cli(capsys, "users", "create", "-u", "bob", "--use-random-password")
    assert code == 0
    [line] = [ln for ln in out.splitlines() if "Password" in ln]
    assert len(line.rsplit(" ", 1)[1]) >= 12
    assert line.rsplit(" ", 1)[1] not in run_cli(capsys, "users", "list")[1]


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")
def test_a_prompted_password_is_asked_twice(home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("typed password\ntyped password\n"))
    code, out, _ = run_cli(capsys, "users", "create", "-u", "cy")
    assert code == 0 and "typed password" not in out
    assert _raw("SELECT count(*) FROM ab_user WHERE password_hash LIKE 'scrypt$%'") == [(1,)]


def test_a_short_password_or_unknown_role_is_one_line_and_non_zero(home: Path, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "users", "create", "-u", "x", "--password", "short")
    assert code == 1 and "at least 8" in err
    code, _, err = run_cli(capsys, "users", "create", "-u", "x", "-r", "God", "--password", "long enough pw")
    assert code == 1 and "Viewer" in err and err.count("\n") == 1


def test_an_unknown_role_is_refused_before_the_password_is_asked_for(home: Path, capsys: Out,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no one to type a password
    code, out, err = run_cli(capsys, "users", "create", "-u", "x", "-r", "God")
    assert code == 1 and "Password" not in out + err
    assert err.strip().splitlines() == ["flowctl: error: role 'God' does not exist; roles: Admin, Op, User, Viewer"]


# --- fernet key rotation ----------------------------------------------------------------------

def test_rotate_fernet_key_lets_the_old_key_be_dropped(home: Path, capsys: Out,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    old = os.environ["FLOWCTL__CORE__FERNET_KEY"]
    run_cli(capsys, "connections", "add", "c", "--conn-uri", "http://u:pw-rotate@h")
    run_cli(capsys, "variables", "set", "v", "value")
    new = generate_key()
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", f"{new},{old}")
    code, out, _ = run_cli(capsys, "rotate-fernet-key")
    assert code == 0 and out.startswith("2 secret(s)")
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", new)
    assert run_cli(capsys, "variables", "get", "v")[1] == "value\n"


def test_without_a_fernet_key_adding_a_password_says_to_run_db_init(home: Path, capsys: Out,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", "")
    code, _, err = run_cli(capsys, "connections", "add", "c", "--conn-uri", "http://u:pw@h")
    assert code == 1 and "flowctl db init" in err and err.count("\n") == 1


def test_changes_are_written_to_the_audit_log_without_secrets(home: Path, capsys: Out) -> None:
    run_cli(capsys, "connections", "add", "c", "--conn-uri", "http://u:audit-pw-1@h")
    run_cli(capsys, "variables", "set", "k", "audit-value-1")
    rows = _raw("SELECT event, source, extra FROM log ORDER BY id")
    assert [(e, s) for e, s, _ in rows] == [("connection.add", "cli"), ("variable.set", "cli")]
    assert all("audit-pw-1" not in (x or "") and "audit-value-1" not in (x or "") for _, _, x in rows)


def test_secrets_in_a_connections_extra_are_masked_wherever_the_cli_shows_it(home: Path, capsys: Out) -> None:
    """Before: "never printed" said the help, and get/list printed aws_secret_access_key in clear."""
    assert run_cli(capsys, "connections", "add", "aws", "--conn-type", "aws", "--conn-extra",
                   '{"region": "eu-west-1", "aws_secret_access_key": "AKIASECRET99", "nested": {"token": "tok-123456"}}'
                   )[0] == 0
    got = _json(capsys, "connections", "get", "aws")
    assert got["extra"] == {"region": "eu-west-1", "aws_secret_access_key": "***", "nested": {"token": "***"}}
    for args in (("connections", "get", "aws"), ("connections", "list"), ("connections", "list", "-o", "json"),
                 ("connections", "export", "-")):
        out = run_cli(capsys, *args)[1]
        assert "AKIASECRET99" not in out and "tok-123456" not in out, args
    target = home / "conns.json"
    assert run_cli(capsys, "connections", "export", str(target))[0] == 0  # a file keeps them, for import
    assert json.loads(target.read_text())["aws"]["extra"]["aws_secret_access_key"] == "AKIASECRET99"


def test_absurd_ports_and_pool_slots_are_one_line_errors_not_tracebacks(home: Path, capsys: Out) -> None:
    for args in (("pools", "set", "big", "99999999999999999999", "x"),
                 ("connections", "add", "c", "--conn-type", "http", "--conn-port", "99999999999999999999"),
                 ("connections", "add", "c", "--conn-type", "http", "--conn-port", "70000"),
                 ("connections", "add", "c", "--conn-json", '{"conn_type": "http", "port": 70000}')):
        code, _, err = run_cli(capsys, *args)
        assert code in (1, 2) and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)
    assert _json(capsys, "connections", "list") == []


def test_a_command_closes_its_database_connections_when_it_ends(home: Path, capsys: Out) -> None:
    """Before: every in-process ``main()`` left its engine's connections open, and a test worker
    running a few hundred commands passed 1024 open files (then select() failed elsewhere)."""
    import os

    run_cli(capsys, "variables", "list")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert run_cli(capsys, "variables", "list")[0] == 0
    assert len(os.listdir("/proc/self/fd")) <= before + 2
