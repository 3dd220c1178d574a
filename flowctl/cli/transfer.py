"""The files that move connections and variables between deployments: JSON, YAML and ``.env``.

Owns rendering connections in each export format, and writing an export readable by its owner alone.
Reading an import file (a bad file is one FlowctlError, raised before anything is written; connection
entries each parsed or with the reason they cannot be) is ``flowctl/secret_files.py``'s, below the CLI
because ``DAG.test()`` reads such files too; its names are re-exported here for the commands. Imports
click and flowctl.core (yaml when a file is YAML: every command loads this module); never the database
layer (commands pass the records in).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import click

from flowctl.core.connection import Connection
from flowctl.core.errors import FlowctlError
from flowctl.core.masking import REDACTED
# Reading lives below the CLI (DAG.test() reads these files too); the commands find it here as before.
from flowctl.secret_files import (
    EXTENSIONS, FILE_FORMATS, MAX_ID_LEN, STDIO, Entry, env_entries, format_of, mapping_entries,
    read_connection_entries, read_mapping, read_text,
)

__all__ = [
    "EXTENSIONS", "FILE_FORMATS", "MAX_ID_LEN", "SERIALIZATIONS", "STDIO", "Entry", "dump_yaml", "env_entries",
    "env_id_problem", "format_of", "mapping_entries", "read_connection_entries", "read_mapping", "read_text",
    "render_connections", "uri_losses", "write_private",
]

SERIALIZATIONS = ("uri", "json")


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
