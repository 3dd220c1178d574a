"""JSON given as an option or argument value (``--conf``, ``--task-params``, ``--conn-json``, ``variables
set --json``): parsed here, or refused as bad usage (exit 2) in one line naming the option.

Nothing but ``click`` and the standard library; imported by ``flowctl/cli`` command modules only.
"""
from __future__ import annotations

import json
from typing import Any

import click


def parse_json(text: str, hint: str) -> Any:
    """``text`` as JSON; click.BadParameter for ``hint`` (the option's name) saying what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})",
                                 param_hint=hint) from None
    except RecursionError:
        raise click.BadParameter("nested too deeply", param_hint=hint) from None


def parse_json_object(text: str, hint: str) -> dict[str, Any]:
    """``text`` as a JSON object; click.BadParameter for ``hint`` when it is not JSON or not an object."""
    value = parse_json(text, hint)
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"key\": \"value\"}'", param_hint=hint)
    return value
