"""The connection record and its two text forms: the URI and the JSON object.

Owns :class:`Connection` (a frozen record: conn_id, conn_type, host, login,
password, schema, port, extra, description), :func:`parse_uri` /
:meth:`Connection.get_uri` (``conn-type://login:password@host:port/schema?k=v``,
Airflow's form, with ``__extra__=<json>`` for extras that are not flat
strings) and :func:`from_json_dict` / :meth:`Connection.to_json_dict`.
Pure: no I/O; must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from flowctl.core.errors import FlowctlError

#: Schemes people write that mean another conn_type.
SCHEME_ALIASES: Mapping[str, str] = {"postgresql": "postgres"}

MAX_PORT = 65_535
#: What a connection id entered in the UI or the API may hold: it is a segment of the API's URLs.
CONN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
#: The conn_id column's width.
MAX_CONN_ID_LENGTH = 250
JSON_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")
#: The fields that hold text: a number or a date there (YAML reads ``password: 0123`` as 83) is refused,
#: not turned into other text.
TEXT_FIELDS = ("conn_type", "description", "host", "login", "password", "schema")


class ConnectionFormatError(FlowctlError, ValueError):
    """A connection URI or JSON object cannot be understood; the message says why."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One connection: where a hook connects and with which credentials."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    port: int | None = None
    extra: str | None = None
    description: str | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as a JSON object ({} when empty or not an object)."""
        return extra_as_dict(self.extra)

    def get_uri(self) -> str:
        """The connection as ``conn-type://login:password@host:port/schema?extra``."""
        return render_uri(self)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form (what ``--conn-json`` and export use); extra as an object when it is one."""
        out: dict[str, Any] = {}
        for name in JSON_FIELDS:
            value = getattr(self, name)
            if name == "extra" and value:
                value = _extra_for_json(value)
            out[name] = value
        return out

    def with_password(self, password: str | None) -> Connection:
        """A copy with another password (``None`` to hide it)."""
        return replace(self, password=password)

    def redacted(self) -> Connection:
        """A copy to show people: the password, and each value of ``extra`` under a sensitive key
        (token, secret, api_key... at any depth), as ``***`` (:func:`redact_extra`)."""
        from flowctl.core.masking import REDACTED

        return replace(self, password=REDACTED if self.password else None, extra=redact_extra(self.extra))


def redact_extra(extra: str | None) -> str | None:
    """A connection's extra (JSON text) with the values of sensitive keys as ``***``, at any depth;
    an extra that is not a JSON object is hidden whole (it cannot be searched for secrets)."""
    from flowctl.core.masking import REDACTED, SecretsMasker

    if not extra:
        return extra
    try:
        parsed = json.loads(extra)
    except ValueError:
        return REDACTED
    return json.dumps(SecretsMasker().redact(parsed)) if isinstance(parsed, dict) else REDACTED


def restore_redacted(submitted: Any, stored: Any) -> Any:
    """``submitted`` (a parsed extra) with each ``***`` that stands where ``stored`` has a value put back to
    that value: an extra sent back as :func:`redact_extra` showed it keeps its secrets."""
    from flowctl.core.masking import REDACTED

    if submitted == REDACTED:
        return stored
    if isinstance(submitted, dict) and isinstance(stored, dict):
        return {k: restore_redacted(v, stored[k]) if k in stored else v for k, v in submitted.items()}
    return submitted


def extra_as_dict(extra: str | None) -> dict[str, Any]:
    """``extra`` parsed as a JSON object, or {}."""
    if not extra:
        return {}
    try:
        value = json.loads(extra)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _extra_for_json(extra: str) -> Any:
    try:
        return json.loads(extra)
    except ValueError:
        return extra


def normalize_conn_type(scheme: str) -> str:
    """A URI scheme as a conn_type: dashes become underscores; aliases resolved."""
    conn_type = scheme.replace("-", "_").lower()
    return SCHEME_ALIASES.get(conn_type, conn_type)


def parse_uri(conn_id: str, uri: str, description: str | None = None) -> Connection:
    """The connection a URI describes."""
    if "://" not in uri:
        raise ConnectionFormatError(
            f"connection {conn_id!r}: {uri!r} is not a URI (expected conn-type://login:password@host:port/schema)"
        )
    try:
        parts = urlsplit(uri)
    except ValueError as exc:  # an unclosed IPv6 bracket, for one
        raise ConnectionFormatError(f"connection {conn_id!r}: the URI cannot be parsed ({exc})") from None
    if not parts.scheme:
        # Not the URI itself in the message: it may hold a password.
        raise ConnectionFormatError(f"connection {conn_id!r}: the URI names no conn-type before '://'")
    try:
        port = parts.port
    except ValueError:
        raise ConnectionFormatError(f"connection {conn_id!r}: the port in the URI is not a number") from None
    return Connection(
        conn_id=conn_id,
        conn_type=normalize_conn_type(parts.scheme),
        host=unquote(parts.hostname) if parts.hostname else None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        port=port,
        extra=_extra_from_query(conn_id, parts.query),
        description=description,
    )


def _extra_from_query(conn_id: str, query: str) -> str | None:
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    values = dict(pairs)
    if "__extra__" in values:
        if len(values) > 1:
            raise ConnectionFormatError(f"connection {conn_id!r}: __extra__ cannot be combined with other parameters")
        try:
            json.loads(values["__extra__"])
        except ValueError:
            raise ConnectionFormatError(f"connection {conn_id!r}: __extra__ is not valid JSON") from None
        return values["__extra__"]
    return json.dumps(values)


def render_uri(conn: Connection) -> str:
    """The URI of a connection (the inverse of :func:`parse_uri`)."""
    scheme = (conn.conn_type or "").replace("_", "-")
    uri = f"{scheme}://"
    if conn.login is not None or conn.password is not None:
        uri += quote(conn.login or "", safe="")
        if conn.password is not None:
            uri += ":" + quote(conn.password, safe="")
        uri += "@"
    uri += quote(conn.host or "", safe="")
    if conn.port is not None:
        uri += f":{conn.port}"
    if conn.schema:
        uri += "/" + quote(conn.schema, safe="")
    if conn.extra:
        uri += "?" + _query_from_extra(conn.extra)
    return uri


def _query_from_extra(extra: str) -> str:
    try:
        value = json.loads(extra)
    except ValueError:
        return urlencode({"__extra__": json.dumps(extra)})
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return urlencode(value)
    return urlencode({"__extra__": json.dumps(value)})


def check_conn_id(conn_id: str) -> None:
    """ConnectionFormatError unless ``conn_id`` is 1 to 250 letters, digits, '_', '.' or '-' (checked where
    connections are entered, the UI and the API alike, so that every one entered can be reached by URL)."""
    if len(conn_id) > MAX_CONN_ID_LENGTH or not CONN_ID_PATTERN.fullmatch(conn_id):
        shown = repr(conn_id[:40]) + ("..." if len(conn_id) > 40 else "")
        raise ConnectionFormatError(f"connection id {shown} must be 1 to {MAX_CONN_ID_LENGTH} letters, digits, "
                                    "'_', '.' or '-'")


def check_port(conn_id: str, port: int | None) -> None:
    """ConnectionFormatError for a port outside 1..65535 (checked where connections are entered,
    not where stored ones are read: older rows may hold one)."""
    if port is not None and not 1 <= port <= MAX_PORT:
        raise ConnectionFormatError(f"connection {conn_id!r}: port {port!r} is not a number from 1 to {MAX_PORT}")


def from_json_dict(conn_id: str, data: Mapping[str, Any]) -> Connection:
    """The connection a JSON object describes (``--conn-json``, import files)."""
    unknown = sorted(set(data) - set(JSON_FIELDS) - {"conn_id", "uri"})
    if unknown:
        raise ConnectionFormatError(f"connection {conn_id!r}: unknown field(s) {', '.join(unknown)}")
    for name in (*TEXT_FIELDS, "uri"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ConnectionFormatError(
                f"connection {conn_id!r}: {name} must be text, not {type(data[name]).__name__} (quote it)"
            )
    if data.get("uri"):
        return parse_uri(conn_id, data["uri"], data.get("description"))
    port = _port_of(conn_id, data.get("port"))
    check_port(conn_id, port)
    conn_type = data.get("conn_type")
    return Connection(
        conn_id=conn_id,
        conn_type=normalize_conn_type(conn_type) if conn_type else None,
        host=data.get("host"), login=data.get("login"), password=data.get("password"),
        schema=data.get("schema"), port=port, extra=_extra_of(conn_id, data.get("extra")),
        description=data.get("description"),
    )


def _port_of(conn_id: str, port: Any) -> int | None:
    """A port given as a whole number or its digits as text (YAML and .env give text); a boolean or a
    fraction is refused, not turned into 1 or cut to a whole number."""
    if port is None or port == "":
        return None
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str) and port.strip().isdigit():
        return int(port)
    raise ConnectionFormatError(f"connection {conn_id!r}: port {port!r} is not a whole number")


def _extra_of(conn_id: str, extra: Any) -> str | None:
    """Extra as stored: the JSON text of an object, given as an object or as that text (Airflow's exports)."""
    if extra is None or extra == "":
        return None
    if isinstance(extra, dict):
        return json.dumps(extra)
    if isinstance(extra, str):
        try:
            if isinstance(json.loads(extra), dict):
                return extra
        except ValueError:
            pass
    raise ConnectionFormatError(f"connection {conn_id!r}: extra must be a JSON object, e.g. {{\"timeout\": 30}}")
