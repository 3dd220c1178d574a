"""The time zone the pages show times in, and read the times people type in forms.

As in Airflow's UI: ``[webserver] default_ui_timezone`` (``utc``, ``system`` for the
web server machine's zone, or a zone name such as Europe/Amsterdam) unless the
person picked another one in the zone menu of the top bar, which keeps the choice
in a cookie. Every time a page prints (the ``dt`` filter), the charts' labels (the
``ui-timezone`` meta tag, read by ``flowctl.js``) and every naive date-time a
form takes (trigger, browse filters) are in that zone. The REST API is not: it
speaks ISO 8601 with offsets, and a naive value there is UTC.

Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, has_request_context, request

from flowctl.core import timezones
from flowctl.core.errors import FlowctlError
from flowctl.web import context

#: The cookie the zone menu sets (a zone name); anything this machine does not know is ignored.
COOKIE = "flowctl_tz"
_MAX_NAME = 64


def system_zone_name() -> str:
    """The web server machine's zone name, found as ``[core] default_timezone = system`` finds it
    (:mod:`flowctl.machine_zone`); UTC when it has no name."""
    from flowctl.machine_zone import machine_zone_name

    try:
        return machine_zone_name()
    except FlowctlError:  # an offset of no whole hours, with no zone name: UTC, as before
        return "UTC"


def known_zone(name: str) -> bool:
    """Whether ``name`` is UTC or a zone name this machine knows."""
    if not name or len(name) > _MAX_NAME:
        return False
    if name.upper() == "UTC":
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def default_zone_name() -> str:
    """``[webserver] default_ui_timezone``, ``system`` resolved."""
    configured = str(context.settings().get("webserver", "default_ui_timezone") or "utc")
    if configured.lower() == "system":
        return system_zone_name()
    return "UTC" if configured.lower() == "utc" else configured


def zone_name() -> str:
    """The zone of this request's pages: the person's choice, else the configured default."""
    if not has_request_context():
        return "UTC"
    cached = getattr(g, "ui_zone_name", None)
    if cached is None:
        chosen = request.cookies.get(COOKIE, "")
        cached = g.ui_zone_name = ("UTC" if chosen.upper() == "UTC" else chosen) if known_zone(chosen) \
            else default_zone_name()
    return str(cached)


def zone() -> tzinfo:
    """:func:`zone_name` as a tzinfo."""
    name = zone_name()
    return timezone.utc if name == "UTC" else ZoneInfo(name)


def format_dt(value: datetime | str | None) -> str:
    """``2024-01-02 03:04:05`` in the page's zone; empty for None (naive values are UTC; an ISO 8601
    text, as a chart's data holds, is read first)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _local(value).isoformat(" ", "seconds")


def format_input(value: datetime) -> str:
    """``value`` for a ``datetime-local`` input: ``2024-01-02T03:04`` in the page's zone."""
    return _local(value).isoformat("T", "minutes")


def _local(value: datetime) -> datetime:
    """``value`` (naive: UTC) as naive wall time in the page's zone; the first or last moment there is
    when it is before 0001-01-01 or after 9999-12-31 there (0001-01-01 00:00 UTC is in the year 0 in
    New York). Printed with isoformat, which writes the year 1 as 0001 where strftime writes 1."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    try:
        return aware.astimezone(zone()).replace(tzinfo=None)
    except OverflowError:
        return datetime.min if aware.year == 1 else datetime.max


def parse_form_moment(text: str | None) -> datetime | None:
    """A date or date-time a person typed in a form, as aware UTC; a naive one is in the page's
    zone. None when empty; FlowctlError (a 400) naming the forms taken when it is not a date."""
    if not text or not text.strip():
        return None
    try:
        return timezones.parse_moment(text, zone())
    except ValueError as error:
        raise FlowctlError(str(error)) from None


def zone_choices() -> list[tuple[str, str]]:
    """The zone menu's entries, (zone name, label): UTC, the server's default, the current one.
    The browser's own zone is added by ``flowctl.js``, which alone knows it."""
    choices = [("UTC", "UTC")]
    default = default_zone_name()
    if default != "UTC":
        choices.append((default, f"{default} (server default)"))
    current = zone_name()
    if current not in {name for name, _ in choices}:
        choices.append((current, current))
    return choices
