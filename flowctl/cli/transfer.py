"""The files that move connections and variables between deployments: JSON, YAML and ``.env``.

Owns reading an import file (a bad file is one FlowctlError, raised before anything is written), turning
it into connection entries (each parsed, or the reason it cannot be, so that one bad entry does not stop
the others), rendering connections in each export format, and writing an export readable by its owner
alone. Imports click and flowctl.core (yaml when a file is YAML: every command loads this module);
never the database layer (commands pass the records in).
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click

from flowctl.core.connection import Connection, ConnectionFormatError, from_json_dict, parse_uri
from flowctl.core.errors import FlowctlError
from flowctl.core.masking import REDACTED

STDIO = "-"
FILE_FORMATS = ("json", "yaml", "env")
SERIALIZATIONS = ("uri", "json")
EXTENSIONS: Mapping[str, str] = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".env": "env"}
MAX_ID_LEN = 250  # db.tables.ID_LEN (the CLI reaches the database through the Store only)


@dataclass(frozen=True, slots=True)
class Entry:
    """One connection of an import file: its record, or why it has none (``label`` names it for people)."""

    label: str
    connection: Connection | None = None
    error: str | None = None


# --- reading ----------------------------------------------------------------------------------

def format_of(path: str, given: str | None) -> str:
    """The file format: ``given`` (``--file-format``), else the extension's; ``-`` is JSON unless given."""
    if given:
        return given
    if path == STDIO:
        return "json"
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise FlowctlError(f"cannot tell the format of {path} from its extension: "
                           "name it .json, .yaml, .yml or .env, or give --file-format")
    return fmt


def read_text(path: str) -> str:
    """The text of a file (``-``: stdin)."""
    try:
        if path == STDIO:
            return sys.stdin.read()
        return Path(path).read_text("utf-8-sig")  # -sig: a byte order mark from a Windows editor is not data
    except OSError as exc:
        raise FlowctlError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FlowctlError(f"cannot read {path}: it is not UTF-8 text") from None


def read_mapping(path: str, fmt: str, what: str) -> dict[str, Any]:
    """The top-level mapping of a JSON or YAML file; a FlowctlError when it is not one."""
    text = read_text(path)
    data = _load_yaml(text, path) if fmt == "yaml" else _load_json(text, path)
    if not isinstance(data, dict):
        raise FlowctlError(f"{path} must hold a mapping of {what} at the top level, not {_kind(data)}")
    return data


def _load_json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FlowctlError(f"{path} is not valid JSON: {exc}") from None


def _load_yaml(text: str, path: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FlowctlError(f"{path} is not valid YAML: {problem}{where}") from None
    return _as_json_values(data, path, frozenset())


def _as_json_values(value: Any, path: str, parents: frozenset[int]) -> Any:
    """YAML's values as JSON's: dates become ISO text; what JSON cannot hold is a FlowctlError.

    So a YAML file means what the same JSON file would, and what is stored is what JSON can give back.
    """
    if isinstance(value, (dict, list)):
        if id(value) in parents:
            raise FlowctlError(f"{path}: an alias refers to the mapping or list that holds it")
        inside = parents | {id(value)}
        if isinstance(value, list):
            return [_as_json_values(v, path, inside) for v in value]
        return {_as_key(k, path): _as_json_values(v, path, inside) for k, v in value.items()}
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    raise FlowctlError(f"{path}: a {type(value).__name__} value cannot be imported (only JSON's kinds)")


def _as_key(key: Any, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    # `on:` or `yes:` is True in YAML: storing "True" would surprise more than an error does.
    raise FlowctlError(f"{path}: the key {key!r} is not text; quote it")


def _kind(data: Any) -> str:
    if data is None:
        return "an empty document"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "text"
    return f"a {type(data).__name__}"


# --- connections in -----------------------------------------------------------------------------

def read_connection_entries(path: str, fmt: str) -> list[Entry]:
    """The connections of an import file, each parsed or with the reason it cannot be."""
    if fmt == "env":
        return env_entries(read_text(path))
    return mapping_entries(read_mapping(path, fmt, "conn_id to fields or URI"))


def mapping_entries(data: Mapping[str, Any]) -> list[Entry]:
    """Entries of a JSON or YAML mapping: conn_id -> a URI, or an object of fields."""
    return [_entry(conn_id, value) for conn_id, value in data.items()]


def env_entries(text: str) -> list[Entry]:
    """Entries of a ``.env`` file: ``CONN_ID=URI`` or ``CONN_ID={json}`` lines; blank lines and ``#``
    comments are ignored; a conn_id given twice is an error of its second line (the first one counts)."""
    entries: list[Entry] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        conn_id, equals, value = (part.strip() for part in line.partition("="))
        if not equals:
            entries.append(Entry(f"line {number}", error=f"line {number}: expected CONN_ID=URI, found no '='"))
        elif conn_id in first_line:
            entries.append(Entry(conn_id, error=f"connection {conn_id!r}: line {number} defines it again "
                                                f"(line {first_line[conn_id]} was imported instead)"))
        else:
            first_line[conn_id] = number
            entries.append(_entry(conn_id, _unquoted(value)))
    return entries


def _unquoted(value: str) -> str:
    """A value without the quotes some .env writers put around it (a URI never starts with one)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _entry(conn_id: str, value: Any) -> Entry:
    if not conn_id.strip():
        return Entry(repr(conn_id), error="a connection has an empty conn_id")
    if len(conn_id) > MAX_ID_LEN:
        return Entry(conn_id[:40] + "...", error=f"the conn_id {conn_id[:40]!r}... is longer than "
                                                 f"{MAX_ID_LEN} characters")
    try:
        return Entry(conn_id, connection=_connection(conn_id, value))
    except ConnectionFormatError as exc:
        return Entry(conn_id, error=str(exc))


def _connection(conn_id: str, value: Any) -> Connection:
    if isinstance(value, str) and value.lstrip().startswith("{"):  # a .env line's JSON object
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConnectionFormatError(f"connection {conn_id!r}: the value is not valid JSON ({exc})") from None
    if isinstance(value, str):
        return parse_uri(conn_id, value)
    if isinstance(value, dict):
        return from_json_dict(conn_id, value)
    raise ConnectionFormatError(f"connection {conn_id!r}: expected a URI or a mapping of fields, "
                                f"not {_kind(value)}")


# --- connections out ----------------------------------------------------------------------------

def render_connections(conns: Iterable[Connection], fmt: str, serialization: str) -> str:
    """The text of an export: JSON and YAML map conn_id to fields; ``.env`` has one line per
    connection, its URI (``serialization`` "uri") or its JSON object ("json")."""
    conns = list(conns)
    if fmt == "env":
        return "".join(f"{c.conn_id}={_env_value(c, serialization)}\n" for c in conns)
    data = {c.conn_id: c.to_json_dict() for c in conns}
    return dump_yaml(data) if fmt == "yaml" else json.dumps(data, indent=2, sort_keys=True) + "\n"


def dump_yaml(data: Any) -> str:
    """YAML text of JSON-like data, keys in their order."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _env_value(conn: Connection, serialization: str) -> str:
    if serialization == "uri" and conn.conn_type:
        # quote() escapes '*', which a URI allows as it is: a masked password reads as *** (same URI).
        return conn.get_uri().replace("%2A%2A%2A", REDACTED)
    # No conn_type, no URI scheme: its JSON object is the line instead (an import reads both).
    return json.dumps({k: v for k, v in conn.to_json_dict().items() if v is not None}, sort_keys=True)


def env_id_problem(conn_id: str) -> str | None:
    """Why a conn_id cannot be the key of a ``.env`` line, or None."""
    if "=" in conn_id or "\n" in conn_id or conn_id != conn_id.strip() or conn_id.startswith("#"):
        return (f"the conn_id {conn_id!r} cannot be a .env key "
                "(it holds '=', a line break, edge spaces or a leading #)")
    return None


def uri_losses(conns: Iterable[Connection]) -> list[str]:
    """Notes for people on what the URI form of a ``.env`` export leaves out."""
    described = [c.conn_id for c in conns if c.description]
    if not described:
        return []
    return [f"a URI holds no description: {', '.join(described)} lost theirs in this file "
            "(--serialization-format json keeps them)"]


def write_private(path: str, text: str) -> None:
    """Write an export (``-``: stdout); a file is readable by its owner alone, as it may hold secrets."""
    if path == STDIO:
        click.echo(text, nl=False)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise FlowctlError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)  # the mode of os.open applies to a new file only: an old one keeps its own
        fh.write(text)
