"""The files that hold connections and variables, read: JSON, YAML and ``.env``.

Owns reading such a file (a bad file is one FlowctlError) and turning it into
connection entries (each parsed, or the reason it cannot be, so that one bad
entry does not stop the others) or variables. ``flowctl connections import`` /
``variables import`` read their files here (``flowctl/cli/transfer.py`` writes
exports), and so does ``DAG.test()`` for its ``conn_file_path`` /
``variable_file_path``, the files of Airflow's local filesystem secrets backend
(:func:`read_connections`, :func:`read_variables`). Below the CLI because both
use it. Imports the standard library and flowctl.core (yaml when a file is
YAML); never click, the database layer, cli or scheduler.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flowctl.core.connection import Connection, ConnectionFormatError, from_json_dict, parse_uri
from flowctl.core.errors import FlowctlError

STDIO = "-"
FILE_FORMATS = ("json", "yaml", "env")
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


# --- Airflow's local filesystem secrets backend (DAG.test) ----------------------------------------

def read_connections(path: str) -> dict[str, Connection]:
    """The connections of a JSON, YAML or ``.env`` file (by its extension), by conn_id; a FlowctlError
    naming every bad entry when one is bad, as Airflow's local filesystem backend refuses such a file."""
    entries = read_connection_entries(path, _format_by_name(path))
    bad = [entry.error for entry in entries if entry.error]
    if bad:
        raise FlowctlError(f"{path}: {'; '.join(str(e) for e in bad)}")
    return {entry.label: entry.connection for entry in entries if entry.connection is not None}


def read_variables(path: str) -> dict[str, str]:
    """The variables of a JSON, YAML (``{key: value}``) or ``.env`` (``KEY=VALUE`` lines) file, by its
    extension; a value that is not text becomes its JSON text, as ``flowctl variables import`` stores it."""
    fmt = _format_by_name(path)
    if fmt == "env":
        return _env_variables(path, read_text(path))
    data = read_mapping(path, fmt, "variable keys to values")
    for key in data:
        if not key.strip():
            raise FlowctlError(f"{path}: a variable has an empty key")
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in data.items()}


def _env_variables(path: str, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = (part.strip() for part in line.partition("="))
        if not equals or not key:
            raise FlowctlError(f"{path}: line {number}: expected KEY=VALUE")
        if key in found:
            raise FlowctlError(f"{path}: line {number} defines the variable {key!r} again")
        found[key] = _unquoted(value)
    return found


def _format_by_name(path: str) -> str:
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise FlowctlError(f"cannot tell the format of {path} from its extension: name it .json, .yaml, .yml or .env")
    return fmt
