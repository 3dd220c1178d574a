"""What every web view reaches through the Flask app: the store, settings, the clock, audit, paging.

Views call these instead of reading ``current_app.extensions`` themselves, so
that a test can give :func:`flowctl.web.app.create_app` its own store and clock.
Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, g, request

from flowctl.settings import Settings

if TYPE_CHECKING:
    from flowctl.db.store import Store

STORE_KEY = "flowctl.store"
SETTINGS_KEY = "flowctl.settings"
CLOCK_KEY = "flowctl.clock"
MAX_PAGE_SIZE = 500


def store() -> Store:
    """The app's Store."""
    return current_app.extensions[STORE_KEY]  # type: ignore[no-any-return]


#: State-changing requests that make no work for the scheduler (and POSTs that change nothing:
#: the API's list endpoints that take their filters in a body).
_NO_WORK_ENDPOINTS = frozenset({"auth.login", "auth.logout", "api_runs.list_runs",
                                "api_task_instances.list_task_instances"})


def wake_scheduler(response: Response) -> Response:
    """after_request: a state-changing request that succeeded may have made work (a run, cleared or
    marked tasks, an unpause, more pool slots): a sleeping scheduler acts on it now, not at its next
    timer. One hook instead of a call in each view; a wake-up that finds nothing costs one look."""
    if (request.method in ("POST", "PUT", "PATCH", "DELETE") and response.status_code < 400
            and request.endpoint not in _NO_WORK_ENDPOINTS):
        store().notify_scheduler(f"web {request.endpoint}")
    return response


def settings() -> Settings:
    """The app's Settings."""
    return current_app.extensions[SETTINGS_KEY]  # type: ignore[no-any-return]


def now() -> datetime:
    """The current time (UTC, aware) from the app's clock: requests are the outermost loop."""
    return current_app.extensions[CLOCK_KEY]()  # type: ignore[no-any-return]


def username() -> str | None:
    """The logged-in user's name, or None."""
    user = getattr(g, "user", None)
    return None if user is None else str(user.username)


def audit(event: str, *, extra: Mapping[str, Any] | str | None = None, **where: Any) -> None:
    """Write one audit row for the current user, source ``ui`` (or ``api`` under /api/)."""
    source = "api" if request.path.startswith("/api/") else "ui"
    store().audit(event, now=now(), source=source, owner=username(), extra=extra, **where)


@dataclass(frozen=True, slots=True)
class PageArgs:
    """The ``?page=N&page_size=M`` of a list (pages count from 1)."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


#: Past any real history, and small enough for an SQL OFFSET (a page number of 10**21 was a 500).
MAX_PAGE = 1_000_000


def page_args(default_size: int = 25) -> PageArgs:
    """Paging from the query string, clamped to sane values."""
    page = request.args.get("page", 1, type=int) or 1
    size = request.args.get("page_size", default_size, type=int) or default_size
    return PageArgs(min(max(page, 1), MAX_PAGE), min(max(size, 1), MAX_PAGE_SIZE))
