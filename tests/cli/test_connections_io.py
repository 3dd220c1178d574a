"""`flowctl connections import | export` in JSON, YAML and .env (flowctl.cli.transfer), on a migrated SQLite db."""
from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from flowctl.core.connection import Connection
from flowctl.db.store import Store
from flowctl.db.tables import ConnectionRow
from flowctl.settings import Settings
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]

#: A password with every character a URI gives a meaning to, and some that are not ASCII.
AWKWARD_PASSWORD = "p@ss:w/rd#?%&=+ é$'\"~*"

SAMPLE = (
    Connection("pg", "postgres", "db.example.com", "etl user", AWKWARD_PASSWORD, "dw", 5432,
               '{"sslmode": "require"}', "the warehouse"),
    Connection("api", "http", "api.example.com", None, "s3cret-pw", None, 443,
               '{"verify": false, "headers": {"X-Token": "tok-123456"}}'),
    Connection("files", "fs", extra='{"path": "/data/in box"}'),
    Connection("bare", "sqlite", "/tmp/x.db"),
)


@pytest.fixture()
def home(keyed_home: Path) -> Path:
    return keyed_home


@pytest.fixture()
def store(home: Path) -> Iterator[Store]:
    """The Store the CLI uses, to read what it wrote (and to add what the CLI cannot: no conn_type)."""
    opened = Store.from_settings(Settings.load())
    yield opened
    opened.close()


def _stored(store: Store) -> dict[str, dict[str, Any]]:
    """Every connection as conn_id -> its fields (extra parsed: its JSON spacing is not the point)."""
    return {c.conn_id: c.to_json_dict() for c in store.list_connections()}


def _add_sample(store: Store) -> dict[str, dict[str, Any]]:
    for conn in SAMPLE:
        store.add_connection(conn)
    return _stored(store)


def _wipe(store: Store) -> None:
    for conn in store.list_connections():
        store.delete_connection(conn.conn_id)
    assert store.list_connections() == []


# --- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, export_options, import_options", [
    ("conns.json", (), ()), ("conns.yaml", (), ()), ("conns.yml", (), ()),
    ("conns.env", ("--serialization-format", "json"), ()),
    ("conns.txt", ("--file-format", "yaml"), ("--file-format", "yaml")),
])
def test_an_export_imported_into_an_empty_database_gives_the_same_connections(
        store: Store, home: Path, capsys: Out, name: str, export_options: tuple[str, ...],
        import_options: tuple[str, ...]) -> None:
    before = _add_sample(store)
    target = home / name
    code, out, err = run_cli(capsys, "connections", "export", str(target), *export_options)
    assert (code, out, err) == (0, f"4 connection(s) exported to {target}\n", "")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "s3cret-pw" in target.read_text() and "tok-123456" in target.read_text()
    _wipe(store)
    code, out, err = run_cli(capsys, "connections", "import", str(target), *import_options)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "4 connection(s) imported, 0 skipped, 0 failed"
    assert _stored(store) == before


def test_an_env_export_of_uris_round_trips_all_but_descriptions_and_says_so(store: Store, home: Path,
                                                                            capsys: Out) -> None:
    before = _add_sample(store)
    target = home / "conns.env"
    code, _, err = run_cli(capsys, "connections", "export", str(target))
    assert code == 0
    assert err.strip() == ("note: a URI holds no description: pg lost theirs in this file "
                           "(--serialization-format json keeps them)")
    lines = dict(line.split("=", 1) for line in target.read_text().splitlines())
    assert lines["pg"] == ("postgres://etl%20user:p%40ss%3Aw%2Frd%23%3F%25%26%3D%2B%20%C3%A9%24%27%22~%2A"
                           "@db.example.com:5432/dw?sslmode=require")
    _wipe(store)
    assert run_cli(capsys, "connections", "import", str(target))[0] == 0
    assert _stored(store) == {**before, "pg": {**before["pg"], "description": None}}
    assert store.get_connection("pg").password == AWKWARD_PASSWORD


def test_a_connection_without_a_conn_type_is_exported_to_env_as_json_since_a_uri_needs_one(
        store: Store, home: Path, capsys: Out) -> None:
    store.add_connection(Connection("typeless", host="h", password="pw"))
    target = home / "conns.env"
    assert run_cli(capsys, "connections", "export", str(target))[0] == 0
    assert target.read_text() == 'typeless={"host": "h", "password": "pw"}\n'
    _wipe(store)
    assert run_cli(capsys, "connections", "import", str(target))[0] == 0
    assert store.get_connection("typeless") == Connection("typeless", host="h", password="pw")


# --- import: per connection ---------------------------------------------------------------------

def test_an_import_skips_existing_ids_reports_bad_entries_and_still_imports_the_rest(
        store: Store, home: Path, capsys: Out) -> None:
    store.add_connection(Connection("old", "http", "old-host"))
    source = home / "conns.json"
    source.write_text(json.dumps({
        "new": "http://u:pw@new-host:8080",
        "old": {"conn_type": "http", "host": "other-host"},
        "bad_port": {"conn_type": "http", "port": "eighty"},
        "a_list": [1, 2],
        "no_scheme": "just-a-host",
        "typo": {"conn_type": "http", "hots": "h"},
        "schemeless": "://u:hidden-pw@h",
    }))
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1
    assert out.splitlines() == ["imported new", "1 connection(s) imported, 1 skipped, 5 failed"]
    assert err.splitlines() == [
        "skipped: connection 'old' exists already (--overwrite replaces it)",
        "failed: connection 'bad_port': port 'eighty' is not a whole number",
        "failed: connection 'a_list': expected a URI or a mapping of fields, not a list",
        "failed: connection 'no_scheme': 'just-a-host' is not a URI (expected "
        "conn-type://login:password@host:port/schema)",
        "failed: connection 'typo': unknown field(s) hots",
        "failed: connection 'schemeless': the URI names no conn-type before '://'",
    ]
    assert store.get_connection("new") == Connection("new", "http", "new-host", "u", "pw", port=8080)
    assert store.get_connection("old").host == "old-host"
    assert sorted(_stored(store)) == ["new", "old"]


def test_overwrite_replaces_every_field_of_an_existing_connection(store: Store, home: Path, capsys: Out) -> None:
    store.add_connection(Connection("old", "http", "old-host", "u", "old-pw", extra='{"a": "1"}'))
    source = home / "conns.yaml"
    source.write_text("old:\n  conn_type: postgres\n  host: new-host\n  port: 5432\nnew: redis://cache:6379/0\n")
    code, out, err = run_cli(capsys, "connections", "import", str(source), "--overwrite")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["imported new", "replaced old",
                                "2 connection(s) imported (1 replaced), 0 skipped, 0 failed"]
    assert store.get_connection("old") == Connection("old", "postgres", "new-host", port=5432)


def test_skipped_connections_alone_do_not_make_the_import_fail(store: Store, home: Path, capsys: Out) -> None:
    store.add_connection(Connection("c", "http", "h"))
    source = home / "conns.json"
    source.write_text('{"c": "http://other"}')
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 0 and out == "0 connection(s) imported, 1 skipped, 0 failed\n" and "skipped" in err
    assert store.get_connection("c").host == "h"


def test_an_env_file_ignores_comments_and_blank_lines_and_reports_bad_lines(store: Store, home: Path,
                                                                            capsys: Out) -> None:
    source = home / "conns.env"
    source.write_text(
        "# staging connections\n"
        "\n"
        "PG_MAIN = postgres://etl:p%40ss%23w0rd%3A%2F@db.internal:5432/dw?sslmode=require\n"
        "   # an indented comment\n"
        'API={"conn_type": "http", "host": "api", "extra": {"verify": false}, "description": "the API"}\n'
        "QUOTED=\"redis://cache:6379/0\"\n"
        "this line has no equals sign\n"
        "PG_MAIN=postgres://someone@else\n"
        "BROKEN_JSON={\"conn_type\": \n"
    )
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1
    assert out.splitlines()[-1] == "3 connection(s) imported, 0 skipped, 3 failed"
    assert err.splitlines()[0] == "failed: line 7: expected CONN_ID=URI, found no '='"
    assert err.splitlines()[1] == "failed: connection 'PG_MAIN': line 8 defines it again (line 3 was imported instead)"
    assert err.splitlines()[2].startswith("failed: connection 'BROKEN_JSON': the value is not valid JSON")
    stored = _stored(store)
    assert sorted(stored) == ["API", "PG_MAIN", "QUOTED"]
    assert stored["PG_MAIN"]["password"] == "p@ss#w0rd:/" and stored["PG_MAIN"]["extra"] == {"sslmode": "require"}
    assert stored["API"]["extra"] == {"verify": False} and stored["API"]["description"] == "the API"
    assert (stored["QUOTED"]["conn_type"], stored["QUOTED"]["schema"]) == ("redis", "0")


def test_yaml_fields_that_yaml_reads_as_numbers_are_refused_not_changed(store: Store, home: Path,
                                                                        capsys: Out) -> None:
    source = home / "conns.yaml"
    source.write_text(
        "octal_pw:\n  conn_type: http\n  password: 0123\n"        # YAML 1.1: the number 83
        "ok:\n  conn_type: http\n  password: '0123'\n  port: '8080'\n"
        "  extra: '{\"k\": \"v\"}'\n"                               # extra as JSON text
        "dated:\n  conn_type: http\n  description: 2024-05-01\n"   # a date: its ISO text
    )
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1 and out.splitlines()[-1] == "2 connection(s) imported, 0 skipped, 1 failed"
    assert err.strip() == "failed: connection 'octal_pw': password must be text, not int (quote it)"
    assert store.get_connection("ok") == Connection("ok", "http", password="0123", port=8080, extra='{"k": "v"}')
    assert store.get_connection("dated").description == "2024-05-01"


def test_import_reads_stdin_with_a_file_format(store: Store, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("c1: http://h1\n"))
    assert run_cli(capsys, "connections", "import", "-", "--file-format", "yaml")[0] == 0
    assert store.get_connection("c1").host == "h1"


# --- bad files: one line, nothing written -------------------------------------------------------

@pytest.mark.parametrize("name, content, says", [
    ("c.json", '{"a": "http://h",', "is not valid JSON"),
    ("c.json", '["http://h"]', "must hold a mapping of conn_id to fields or URI at the top level, not a list"),
    ("c.yaml", "a: http://h\nb: [unclosed\n", "is not valid YAML"),
    ("c.yaml", "", "not an empty document"),
    ("c.yml", "just some text", "not text"),
    ("c.yaml", "a: http://h\n---\nb: http://h\n", "is not valid YAML"),
    ("c.yaml", "yes: http://h\n", "the key True is not text; quote it"),
    ("c.yaml", "a: &x [*x]\n", "an alias refers to the mapping or list that holds it"),
    ("c.yaml", "a: !!binary aGVsbG8=\n", "a bytes value cannot be imported"),
    ("c.txt", '{"a": "http://h"}', "cannot tell the format of"),
    ("c.json", b"\xff\xfe{}", "is not UTF-8 text"),
])
def test_a_bad_import_file_is_one_line_and_imports_nothing(store: Store, home: Path, capsys: Out, name: str,
                                                           content: str | bytes, says: str) -> None:
    source = home / name
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content)
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("flowctl: error: ") and says in err, err
    assert store.list_connections() == []


def test_a_missing_file_or_a_folder_given_as_the_import_file_is_one_line(home: Path, capsys: Out) -> None:
    (home / "folder.json").mkdir()
    for path in (home / "missing.json", home / "folder.json"):
        code, _, err = run_cli(capsys, "connections", "import", str(path))
        assert code == 1 and err.startswith(f"flowctl: error: cannot read {path}: ") and len(err.splitlines()) == 1


# --- export -------------------------------------------------------------------------------------

def test_export_to_stdout_is_json_by_default_and_masks_secrets_in_every_format(store: Store, capsys: Out) -> None:
    _add_sample(store)
    code, out, _ = run_cli(capsys, "connections", "export", "-")
    assert code == 0
    assert json.loads(out)["api"] == {"conn_type": "http", "description": None, "host": "api.example.com",
                                      "login": None, "password": "***", "schema": None, "port": 443,
                                      "extra": {"verify": False, "headers": {"X-Token": "***"}}}
    assert yaml.safe_load(run_cli(capsys, "connections", "export", "-", "--file-format", "yaml")[1])["pg"][
        "password"] == "***"
    env = run_cli(capsys, "connections", "export", "-", "--file-format", "env")[1]
    assert "pg=postgres://etl%20user:***@db.example.com:5432/dw?sslmode=require\n" in env
    for fmt in ("json", "yaml", "env"):
        out = run_cli(capsys, "connections", "export", "-", "--file-format", fmt)[1]
        assert "s3cret-pw" not in out and "tok-123456" not in out and "p%40ss" not in out, fmt


def test_export_refuses_an_unknown_extension_or_a_serialization_for_json_and_writes_nothing(
        home: Path, capsys: Out) -> None:
    code, _, err = run_cli(capsys, "connections", "export", str(home / "conns.txt"))
    assert code == 1 and "cannot tell the format of" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(capsys, "connections", "export", str(home / "c.json"), "--serialization-format", "uri")
    assert code == 2 and "env files only" in err
    assert not (home / "conns.txt").exists() and not (home / "c.json").exists()
    code, _, err = run_cli(capsys, "connections", "export", str(home / "no-such-folder" / "c.json"))
    assert code == 1 and err.startswith("flowctl: error: cannot write ") and len(err.splitlines()) == 1


def test_export_makes_an_existing_file_private(store: Store, home: Path, capsys: Out) -> None:
    _add_sample(store)
    target = home / "conns.yaml"
    target.write_text("old")
    target.chmod(0o644)
    assert run_cli(capsys, "connections", "export", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text())["pg"]["password"] == AWKWARD_PASSWORD


def test_an_env_export_refuses_a_conn_id_that_cannot_be_a_key(store: Store, home: Path, capsys: Out) -> None:
    with Session(store.engine) as s, s.begin():  # an id older databases may hold; the Store refuses new ones
        s.add(ConnectionRow(conn_id="a=b", conn_type="http", host="h"))
    code, _, err = run_cli(capsys, "connections", "export", str(home / "c.env"))
    assert code == 1 and "'a=b' cannot be a .env key" in err and len(err.splitlines()) == 1
    assert not (home / "c.env").exists()


def test_without_a_fernet_key_each_connection_with_a_password_fails_and_the_others_import(
        store: Store, home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", "")
    source = home / "conns.json"
    source.write_text('{"plain": "http://h", "secret": "http://u:pw@h"}')
    code, out, err = run_cli(capsys, "connections", "import", str(source))
    assert code == 1 and out.splitlines()[-1] == "1 connection(s) imported, 0 skipped, 1 failed"
    assert err.startswith("failed: connection 'secret': ") and "flowctl db init" in err and len(err.splitlines()) == 1
    assert [c.conn_id for c in store.list_connections()] == ["plain"]
