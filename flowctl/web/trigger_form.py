"""The trigger form generated from a DAG's params, and reading it back into a conf: pure functions.

A param's JSON schema picks the input: ``boolean`` a true/false select,
``integer``/``number`` a number field, ``enum`` a select, ``array``/``object``
a JSON text area, anything else a text field. Submitted fields become conf
values (the JSON conf editor wins for keys it sets); validation is the
params' own (``ParamsDict.resolve`` in ``Store.trigger_dag``). A field left
empty is "no value", never ``""``: the param's default, else null where its
schema allows null, else left out of the conf so that the params refuse it
as the API and CLI do ("has no value and no default").
Pure: no Flask. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowctl.core.errors import ParamValidationError

FIELD_PREFIX = "param."
RECENT_CONFS = 5


@dataclass(frozen=True, slots=True)
class ParamField:
    """One input of the trigger form."""

    name: str
    kind: str  # bool, integer, number, enum, json, string
    value: str
    description: str
    options: tuple[str, ...] = ()
    required: bool = False  # no default
    nullable: bool = False  # the schema allows null

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


def _kind(schema: Mapping[str, Any], value: Any) -> str:
    if schema.get("enum"):
        return "enum"
    kind = schema.get("type") or _type_of(value)
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"boolean": "bool", "integer": "integer", "number": "number", "array": "json",
            "object": "json"}.get(str(kind), "string")


def _type_of(value: Any) -> str | None:
    """The JSON type of a plain param's default: Airflow 2's form takes a field's type from it."""
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (list, "array"),
                              (dict, "object"), (str, "string")):
        if isinstance(value, python_type):
            return name
    return None


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2)
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def _allows_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or None in (schema.get("enum") or ())


def param_fields(params: Mapping[str, Mapping[str, Any]]) -> list[ParamField]:
    """The form's inputs, one per param, in the DAG's order."""
    fields = []
    for name, item in params.items():
        schema = dict(item.get("schema") or {})
        value = item.get("value") if item.get("has_value", True) else None
        kind = _kind(schema, value)
        fields.append(ParamField(name, kind, _text(value, kind), str(item.get("description") or ""),
                                 tuple(str(o) for o in schema.get("enum") or ()),
                                 required=not item.get("has_value", True), nullable=_allows_null(schema)))
    return fields


def coerce(field: ParamField, text: str) -> Any:
    """A submitted text as the param's JSON type; ParamValidationError names the param."""
    try:
        if field.kind == "bool":
            return text.strip().lower() in ("true", "1", "on", "yes")
        if field.kind == "integer":
            return int(text)
        if field.kind == "number":
            return float(text)
        if field.kind == "json":
            return json.loads(text)
    except ValueError as exc:
        raise ParamValidationError(f"param {field.name!r}: {text!r} is not a valid {field.kind} ({exc})") from None
    return text


def parse_conf(text: str) -> dict[str, Any]:
    """The JSON conf editor's content as a mapping (empty text: {})."""
    if not text.strip():
        return {}
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise ParamValidationError(f"the conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise ParamValidationError("the conf must be a JSON object ({...})")
    return conf


def conf_from_form(fields: Iterable[ParamField], form: Mapping[str, str], conf_text: str) -> dict[str, Any]:
    """Form fields as conf values, overlaid by what the JSON editor sets; an empty field is no value:
    left out (the default applies, or the params refuse a required one), or null for a param with
    no default that allows null."""
    conf: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.input_name)
        if raw is None:
            continue
        if raw != "":
            conf[field.name] = coerce(field, raw)
        elif field.required and field.nullable:
            conf[field.name] = None
    conf.update(parse_conf(conf_text))
    return conf


def recent_confs(extras: Iterable[str | None], limit: int = RECENT_CONFS) -> list[str]:
    """The last distinct non-empty confs (as pretty JSON) from trigger audit rows' extras, newest first."""
    out: list[str] = []
    for extra in extras:
        try:
            conf = json.loads(extra or "{}").get("conf")
        except (ValueError, AttributeError):
            continue
        if not conf:
            continue
        text = json.dumps(conf, indent=2, sort_keys=True)
        if text not in out:
            out.append(text)
        if len(out) >= limit:
            break
    return out
