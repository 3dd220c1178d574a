"""``flowctl variables | connections | pools ...`` and ``flowctl rotate-fernet-key``.

Thin commands over the Store's admin verbs. Connection passwords are never
printed: tables, JSON and YAML show ``***``; only ``connections export FILE``
writes them, to a file readable by its owner alone. The import and export
files themselves (JSON, YAML, .env) are ``transfer``'s. Users live in ``users_cmd``.
"""
from __future__ import annotations

import getpass
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from flowctl.cli import transfer
from flowctl.cli.app import DATA_OUTPUTS, OUTPUT_OPTION, CliContext, cli, echo_data, emit, pass_ctx
from flowctl.cli.json_values import parse_json, parse_json_object
from flowctl.core.connection import Connection, ConnectionFormatError, from_json_dict, parse_uri
from flowctl.core.errors import AlreadyExistsError, ConnectionNotFound, FlowctlError, PoolNotFound, VariableNotFound
from flowctl.core.masking import REDACTED, SecretsMasker

STDOUT = transfer.STDIO


def audit(ctx: CliContext, event: str, **extra: Any) -> None:
    """Record who changed what from the CLI (never a secret: callers pass names only)."""
    try:
        owner = getpass.getuser()
    except (KeyError, OSError):
        owner = None
    ctx.store.audit(event, now=datetime.now(timezone.utc), source="cli", owner=owner, extra=extra or None)


def _read_json_object(path: str, what: str) -> dict[str, Any]:
    return transfer.read_mapping(path, "json", what)


def _write_json(path: str, data: Any) -> None:
    transfer.write_private(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# --- variables --------------------------------------------------------------------------------

@cli.group("variables")
def variables_group() -> None:
    """Manage variables (values are encrypted at rest)."""


@variables_group.command("get")
@click.argument("key")
@click.option("--default", "-d", "default", default=None, help="Printed when the variable does not exist.")
@click.option("--json", "-j", "as_json", is_flag=True, help="Parse the value as JSON and pretty-print it.")
@pass_ctx
def variables_get(ctx: CliContext, key: str, default: str | None, as_json: bool) -> None:
    """Print the value of a variable (FLOWCTL_VAR_<KEY> first, as tasks see it)."""
    from flowctl.models.variable import variable_from_environment

    value = variable_from_environment(key)
    try:
        value = ctx.store.get_variable(key) if value is None else value
    except VariableNotFound:
        if default is None:
            raise
        value = default
    if as_json and value is not None:
        try:
            value = json.dumps(json.loads(value), indent=2)
        except ValueError:
            raise FlowctlError(f"variable {key!r} does not hold JSON") from None
    click.echo("" if value is None else value)


@variables_group.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--description", default=None, help="What the variable is for.")
@click.option("--json", "-j", "as_json", is_flag=True, help="Check that VALUE is JSON and store it compactly.")
@pass_ctx
def variables_set(ctx: CliContext, key: str, value: str, description: str | None, as_json: bool) -> None:
    """Create or replace a variable."""
    if as_json:
        value = json.dumps(parse_json(value, "VALUE"))
    ctx.store.set_variable(key, value, description)
    audit(ctx, "variable.set", key=key)
    click.echo(f"Variable {key} set")


@variables_group.command("delete")
@click.argument("key")
@pass_ctx
def variables_delete(ctx: CliContext, key: str) -> None:
    """Delete a variable."""
    if not ctx.store.delete_variable(key):
        raise VariableNotFound(f"variable {key!r} does not exist")
    audit(ctx, "variable.delete", key=key)
    click.echo(f"Variable {key} deleted")


@variables_group.command("list")
@OUTPUT_OPTION
@pass_ctx
def variables_list(ctx: CliContext, output: str) -> None:
    """List variable keys and descriptions (values are not shown: use get)."""
    rows = [{"key": v.key, "description": v.description or ""} for v in ctx.store.list_variables()]
    emit(rows, output, ["key", "description"])


def _variables_format(path: str) -> str:
    """YAML for .yaml/.yml; JSON otherwise, whatever the extension (as before YAML was read)."""
    return "yaml" if Path(path).suffix.lower() in (".yaml", ".yml") else "json"


@variables_group.command("import")
@click.argument("file")
@click.option("--action-on-existing-key", "on_existing", type=click.Choice(["overwrite", "fail", "skip"]),
              default="overwrite", show_default=True,
              help="What to do with a key that exists: replace it, import nothing at all, or keep it.")
@pass_ctx
def variables_import(ctx: CliContext, file: str, on_existing: str) -> None:
    """Set the variables of a JSON or YAML file ({key: value, ...}; YAML by a .yaml/.yml name; '-' reads JSON
    from stdin); values that are not text are stored as JSON."""
    data = transfer.read_mapping(file, _variables_format(file), "variable keys to values")
    for key in data:
        if not key.strip() or len(key) > transfer.MAX_ID_LEN:
            raise FlowctlError(f"{file}: the variable key {key[:40]!r} is empty or longer than "
                               f"{transfer.MAX_ID_LEN} characters; nothing imported")
    clashing = sorted({v.key for v in ctx.store.list_variables()} & set(data))
    if clashing and on_existing == "fail":
        raise FlowctlError(f"variable(s) {', '.join(clashing)} exist already; nothing imported "
                           "(--action-on-existing-key overwrite or skip)")
    if on_existing == "skip":
        for key in clashing:
            click.echo(f"skipped: variable {key!r} exists already", err=True)
        data = {k: v for k, v in data.items() if k not in clashing}
    count = ctx.store.import_variables(data)
    audit(ctx, "variable.import", count=count)
    replaced = f" ({len(clashing)} replaced)" if clashing and on_existing == "overwrite" else ""
    skipped = len(clashing) if on_existing == "skip" else 0
    click.echo(f"{count} variable(s) imported{replaced}, {skipped} skipped")


@variables_group.command("export")
@click.argument("file")
@pass_ctx
def variables_export(ctx: CliContext, file: str) -> None:
    """Write every variable to a JSON file, or YAML by a .yaml/.yml name ('-': JSON on stdout, the values
    of sensitive keys such as *password*, *secret*, *token*, *api_key* masked)."""
    data = ctx.store.export_variables()
    if file == STDOUT:  # for people; a file is for an import elsewhere, and keeps them
        data = SecretsMasker().redact(data)
    if _variables_format(file) == "yaml":
        transfer.write_private(file, transfer.dump_yaml(data))
    else:
        _write_json(file, data)
    if file != STDOUT:
        click.echo(f"{len(data)} variable(s) exported to {file}")


# --- connections ------------------------------------------------------------------------------

def _shown(conn: Connection) -> dict[str, Any]:
    """A connection as people and scripts see it: the password and the secrets in extra masked."""
    masked = conn.redacted()
    row = {"conn_id": conn.conn_id, **masked.to_json_dict()}
    row["uri"] = masked.get_uri().replace("%2A%2A%2A", REDACTED)
    return row


@cli.group("connections")
def connections_group() -> None:
    """Manage connections (passwords and extras are encrypted at rest, never printed)."""


@connections_group.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", default=None, help="conn-type://login:password@host:port/schema?extra")
@click.option("--conn-json", default=None, help='{"conn_type": ..., "host": ..., "extra": {...}}')
@click.option("--conn-type", default=None)
@click.option("--conn-host", default=None)
@click.option("--conn-login", default=None)
@click.option("--conn-password", default=None)
@click.option("--conn-schema", default=None)
@click.option("--conn-port", default=None, type=click.IntRange(1, 65_535))
@click.option("--conn-extra", default=None, help="Extra as a JSON object.")
@click.option("--conn-description", default=None)
@pass_ctx
def connections_add(ctx: CliContext, conn_id: str, **fields: Any) -> None:
    """Add a connection from a URI, a JSON object, or --conn-* fields."""
    ctx.store.add_connection(_connection_from_options(conn_id, fields))
    audit(ctx, "connection.add", conn_id=conn_id)
    click.echo(f"Successfully added `conn_id`={conn_id}")


def _connection_from_options(conn_id: str, opts: dict[str, Any]) -> Connection:
    uri, as_json = opts.pop("conn_uri"), opts.pop("conn_json")
    given = {k[len("conn_"):]: v for k, v in opts.items() if v is not None}
    if uri and as_json:
        raise click.UsageError("give --conn-uri or --conn-json, not both")
    if uri:
        if set(given) - {"description"}:
            raise click.UsageError("--conn-uri cannot be combined with other --conn-* fields")
        return parse_uri(conn_id, uri, given.get("description"))
    if as_json:
        return from_json_dict(conn_id, parse_json_object(as_json, "--conn-json"))
    if "type" not in given:
        raise click.UsageError("give --conn-uri, --conn-json, or at least --conn-type")
    if "extra" in given:
        parse_json_object(given["extra"], "--conn-extra")
    given["conn_type"] = given.pop("type")
    return from_json_dict(conn_id, given)


@connections_group.command("get")
@click.argument("conn_id")
@OUTPUT_OPTION
@pass_ctx
def connections_get(ctx: CliContext, conn_id: str, output: str) -> None:
    """Show one connection (the password as ***; FLOWCTL_CONN_<ID> first, as tasks see it)."""
    from flowctl.models.connection import connection_from_environment

    row = _shown(connection_from_environment(conn_id) or ctx.store.get_connection(conn_id))
    if output in DATA_OUTPUTS:
        echo_data(row, output)
        return
    emit([{"field": k, "value": v} for k, v in row.items()], output, ["field", "value"])


@connections_group.command("delete")
@click.argument("conn_id")
@pass_ctx
def connections_delete(ctx: CliContext, conn_id: str) -> None:
    """Delete a connection."""
    if not ctx.store.delete_connection(conn_id):
        raise ConnectionNotFound(f"the conn_id {conn_id!r} is not defined")
    audit(ctx, "connection.delete", conn_id=conn_id)
    click.echo(f"Successfully deleted connection with `conn_id`={conn_id}")


@connections_group.command("list")
@OUTPUT_OPTION
@click.option("--conn-id", default=None, help="Only this connection.")
@pass_ctx
def connections_list(ctx: CliContext, output: str, conn_id: str | None) -> None:
    """List connections (passwords as ***)."""
    rows = [_shown(c) for c in ctx.store.list_connections() if conn_id is None or c.conn_id == conn_id]
    emit(rows, output, ["conn_id", "conn_type", "host", "port", "schema", "login", "description"])


FILE_FORMAT_OPTION = click.option(
    "--file-format", type=click.Choice(transfer.FILE_FORMATS), default=None,
    help="json, yaml or env (default: from FILE's extension; json for '-').")


@connections_group.command("import")
@click.argument("file")
@click.option("--overwrite", is_flag=True, help="Replace connections that exist already (else they are skipped).")
@FILE_FORMAT_OPTION
@pass_ctx
def connections_import(ctx: CliContext, file: str, overwrite: bool, file_format: str | None) -> int:
    """Add the connections of a .json, .yaml/.yml or .env file ('-' reads stdin).

    JSON and YAML map each conn_id to a URI or to its fields (conn_type, host, login, password, schema,
    port, extra, description); a .env file has CONN_ID=URI or CONN_ID={json} lines. Each connection is
    imported on its own: a bad one is reported, the others still import, and the exit code is 1.
    """
    entries = transfer.read_connection_entries(file, transfer.format_of(file, file_format))
    existing = {c.conn_id for c in ctx.store.list_connections()}
    on_existing = "overwrite" if overwrite else "skip"
    outcomes = [(entry, _import_entry(ctx, entry, existing, on_existing)) for entry in entries]
    done = {o: [e.label for e, got in outcomes if got == o] for o in ("imported", "replaced", "skipped", "failed")}
    if done["imported"] or done["replaced"]:
        audit(ctx, "connection.import", conn_ids=done["imported"], replaced=done["replaced"])
    for outcome in ("imported", "replaced"):
        for conn_id in done[outcome]:
            click.echo(f"{outcome} {conn_id}")
    replaced = f" ({len(done['replaced'])} replaced)" if done["replaced"] else ""
    click.echo(f"{len(done['imported']) + len(done['replaced'])} connection(s) imported{replaced}, "
               f"{len(done['skipped'])} skipped, {len(done['failed'])} failed")
    return 1 if done["failed"] else 0


def _import_entry(ctx: CliContext, entry: transfer.Entry, existing: set[str], on_existing: str) -> str:
    """Import one entry; its outcome (imported, replaced, skipped or failed), told on stderr unless it
    went in."""
    conn = entry.connection
    error = entry.error
    if conn is not None:
        try:
            if conn.conn_id not in existing:
                ctx.store.add_connection(conn)
                return "imported"
            if on_existing == "overwrite":
                ctx.store.upsert_connection(conn)
                return "replaced"
        except AlreadyExistsError:  # another process added it since the list above: skipped
            pass
        except ConnectionFormatError as exc:  # a field too long for the database, a bad conn_id: named in it
            error = str(exc)
        except FlowctlError as exc:  # one each entry meets, such as no fernet key for a password
            error = f"connection {conn.conn_id!r}: {exc}"
    if error is not None:
        click.echo(f"failed: {error}", err=True)
        return "failed"
    click.echo(f"skipped: connection {entry.label!r} exists already (--overwrite replaces it)", err=True)
    return "skipped"


@connections_group.command("export")
@click.argument("file")
@FILE_FORMAT_OPTION
@click.option("--serialization-format", type=click.Choice(transfer.SERIALIZATIONS), default=None,
              help="For env files: each line's value as a URI (the default) or a JSON object.")
@pass_ctx
def connections_export(ctx: CliContext, file: str, file_format: str | None, serialization_format: str | None) -> None:
    """Write every connection to FILE (mode 0600, passwords and extras in clear, for an import elsewhere).

    The format is --file-format, else FILE's extension (.json, .yaml/.yml, .env). '-' prints them to
    stdout as JSON unless --file-format is given, with passwords and secrets in extra masked.
    """
    fmt = transfer.format_of(file, file_format)
    if serialization_format and fmt != "env":
        raise click.UsageError("--serialization-format applies to env files only")
    serialization = serialization_format or "uri"
    conns = ctx.store.list_connections()
    if fmt == "env":
        problems = [p for p in (transfer.env_id_problem(c.conn_id) for c in conns) if p]
        if problems:
            raise FlowctlError(f"{problems[0]}; nothing written (export json or yaml instead)")
    if file == STDOUT:
        conns = [c.redacted() for c in conns]
    transfer.write_private(file, transfer.render_connections(conns, fmt, serialization))
    if fmt == "env" and serialization == "uri":
        for note in transfer.uri_losses(conns):
            click.echo(f"note: {note}", err=True)
    if file != STDOUT:
        click.echo(f"{len(conns)} connection(s) exported to {file}")


# --- pools ------------------------------------------------------------------------------------

@cli.group("pools")
def pools_group() -> None:
    """Manage pools of task slots."""


def _pool_rows(ctx: CliContext, name: str | None) -> list[dict[str, Any]]:
    usage = {u.pool: u for u in ctx.store.pool_usage()}
    rows = []
    for p in ctx.store.list_pools():
        if name is not None and p.name != name:
            continue
        u = usage.get(p.name)
        rows.append({"pool": p.name, "slots": p.slots, "description": p.description or "",
                     "include_deferred": p.include_deferred, "running": u.running if u else 0,
                     "queued": u.queued if u else 0,
                     "open_slots": ("unlimited" if u.open_slots is None else u.open_slots) if u else None})
    return rows


POOL_COLUMNS = ["pool", "slots", "running", "queued", "open_slots", "description"]


# ignore_unknown_options: so that "-1" (unlimited) is read as SLOTS, not as an option.
@pools_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("slots", type=click.IntRange(-1, 2**31 - 1))  # db.admin.MAX_SLOTS (no db import at --help)
@click.argument("description", default=None, required=False)
@click.option("--include-deferred", is_flag=True, help="Deferred tasks take slots too.")
@OUTPUT_OPTION
@pass_ctx
def pools_set(ctx: CliContext, name: str, slots: int, description: str | None, include_deferred: bool,
              output: str) -> None:
    """Create or update a pool (SLOTS -1 = unlimited; without DESCRIPTION, an existing one is kept)."""
    ctx.store.set_pool(name, slots, description, include_deferred)
    audit(ctx, "pool.set", pool=name, slots=slots)
    emit(_pool_rows(ctx, name), output, POOL_COLUMNS)


@pools_group.command("get")
@click.argument("name")
@OUTPUT_OPTION
@pass_ctx
def pools_get(ctx: CliContext, name: str, output: str) -> None:
    """Show one pool and how full it is."""
    ctx.store.get_pool(name)
    emit(_pool_rows(ctx, name), output, POOL_COLUMNS)


@pools_group.command("delete")
@click.argument("name")
@pass_ctx
def pools_delete(ctx: CliContext, name: str) -> None:
    """Delete a pool (default_pool cannot be deleted)."""
    if not ctx.store.delete_pool(name):
        raise PoolNotFound(f"pool {name!r} does not exist")
    audit(ctx, "pool.delete", pool=name)
    click.echo(f"Pool {name} deleted")


@pools_group.command("list")
@OUTPUT_OPTION
@pass_ctx
def pools_list(ctx: CliContext, output: str) -> None:
    """List pools with their running, queued and open slots."""
    emit(_pool_rows(ctx, None), output, POOL_COLUMNS)


@pools_group.command("import")
@click.argument("file")
@pass_ctx
def pools_import(ctx: CliContext, file: str) -> None:
    """Set pools from a JSON file: {"name": {"slots": n, "description": "...", "include_deferred": false}}.

    Every entry is checked first: one bad entry imports nothing. A description not given is kept."""
    data = _read_json_object(file, "pools")
    try:
        ctx.store.import_pools(data)
    except FlowctlError as exc:
        raise FlowctlError(f"{file}: {exc}; nothing imported") from None
    audit(ctx, "pool.import", pools=sorted(data))
    click.echo(f"{len(data)} pool(s) imported")


@pools_group.command("export")
@click.argument("file")
@pass_ctx
def pools_export(ctx: CliContext, file: str) -> None:
    """Write every pool to a JSON file ('-' for stdout)."""
    pools = ctx.store.list_pools()
    _write_json(file, {p.name: {"slots": p.slots, "description": p.description or "",
                                "include_deferred": p.include_deferred} for p in pools})
    if file != STDOUT:
        click.echo(f"{len(pools)} pool(s) exported to {file}")


# --- fernet key -------------------------------------------------------------------------------

@cli.command("rotate-fernet-key")
@pass_ctx
def rotate_fernet_key(ctx: CliContext) -> None:
    """Re-encrypt every secret with the first key of [core] fernet_key ("new,old")."""
    count = ctx.store.rotate_fernet_key()
    audit(ctx, "fernet_key.rotate", count=count)
    click.echo(f"{count} secret(s) re-encrypted with the first fernet key")
