"""Stable URLs of the objects pages link to, built as literal paths (they are a public contract).

``/dags/<dag_id>``, ``/dags/<dag_id>/runs/<run_id>``, ``/dags/<dag_id>/runs/<run_id>/tasks/<task_id>``
with ``?map_index=&try=``; every link to a run carries its run_id. :func:`local_path` says whether a
form's ``next`` may be redirected to. Pure: no Flask.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

#: What a browser drops from a URL (controls anywhere; a header cannot hold a newline either) ...
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: ... or, before the query, reads as a slash: a ``next`` holding one may lead off the site.
_NOT_IN_PATH = re.compile(r"[ \\]")


def _seg(value: Any) -> str:
    return quote(str(value), safe="")


def dag_url(dag_id: str, view: str = "", **query: Any) -> str:
    """``/dags/<dag_id>[/<view>][?query]`` (None-valued query items left out)."""
    path = f"/dags/{_seg(dag_id)}" + (f"/{view}" if view else "")
    return _with_query(path, query)


def run_url(dag_id: str, run_id: str, **query: Any) -> str:
    """``/dags/<dag_id>/runs/<run_id>``."""
    return _with_query(f"/dags/{_seg(dag_id)}/runs/{_seg(run_id)}", query)


def ti_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int | None = None) -> str:
    """``/dags/<dag_id>/runs/<run_id>/tasks/<task_id>`` (``?map_index=`` for mapped, ``?try=``)."""
    query: dict[str, Any] = {"map_index": map_index if map_index >= 0 else None, "try": try_number}
    return _with_query(f"/dags/{_seg(dag_id)}/runs/{_seg(run_id)}/tasks/{_seg(task_id)}", query)


def _with_query(path: str, query: dict[str, Any]) -> str:
    items = {k: v for k, v in query.items() if v is not None and v != ""}
    return f"{path}?{urlencode(items)}" if items else path


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None: a redirect to a form's ``next`` must never
    lead to another site, however a browser reads it (it drops tabs and newlines and takes a backslash
    for a slash, so ``/\\evil.com`` and ``/<tab>/evil.com`` are ``//evil.com``)."""
    if not target or not target.startswith("/") or target.startswith("//") or _CONTROL.search(target):
        return None
    if _NOT_IN_PATH.search(target.split("?", 1)[0].split("#", 1)[0]):
        return None
    return None if urlsplit(target).netloc else target
