"""This machine's time zone, by its IANA name: what ``system`` means in ``[core] default_timezone``
and ``[webserver] default_ui_timezone``.

A name and not a tzinfo, because the zone travels: into the parser children's argv and into
every serialized DAG, where the scheduler and the web server read it back; so it must be a
name that every process (and ``zoneinfo``) loads alike. As the C library does, ``TZ`` comes
first (a zone name, or the path of a zone file), then ``/etc/localtime``: the zone its link
points at, or, when it is a copy, the zone file it equals (Debian's ``/etc/timezone`` is
tried first, and trusted alone only when there is no ``/etc/localtime``). A zone none of those
name (a POSIX rule in TZ such as ``CET-1CEST,M3.5.0,M10.5.0/3``, a private zone file) falls
back to the offset the machine has now, as the tz database's fixed zone ``Etc/GMT-2`` (which
is UTC+02:00: its signs are reversed) and a warning that it has no daylight saving time; an
offset of no whole hours has no such zone: ConfigError, asking for a name.

Reads the environment and files: not for flowctl.core. Imports the standard library only.
"""
from __future__ import annotations

import functools
import logging
import os
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from flowctl.core.errors import ConfigError

log = logging.getLogger("flowctl")

#: The tz database's areas: of two names for the same zone file, one of these is the canonical one.
#: Files of the zone folder that are no zone of their own (``localtime`` is often a link to /etc/localtime).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_AREAS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


def machine_zone_name(environ: Mapping[str, str] | None = None, root: str = "/",
                      local_offset: timedelta | None = None) -> str:
    """The IANA name of this machine's zone (see the module docstring). ``environ`` and ``root``
    default to this process's; ``local_offset`` (the machine's UTC offset now) is read from the
    clock only when the zone has no name."""
    env = os.environ if environ is None else environ
    tz = (env.get("TZ") or "").removeprefix(":")
    if environ is None and root == "/" and local_offset is None:
        return _this_process_zone(tz)
    return _named_zone(tz, Path(root)) or fixed_offset_zone_name(local_offset or _offset_now(), tz)


@functools.lru_cache(maxsize=4)
def _this_process_zone(tz: str) -> str:
    # Cached: the settings ask on every DagBag, and a copied /etc/localtime means reading every zone file.
    return _named_zone(tz, Path("/")) or fixed_offset_zone_name(_offset_now(), tz)


def _named_zone(tz: str, root: Path) -> str | None:
    if tz:
        if not tz.startswith("/"):
            return "UTC" if tz.upper() == "UTC" else tz if is_zone_name(tz) else None
        return zone_file_name(Path(tz)) if Path(tz).is_file() else None
    localtime = root / "etc" / "localtime"
    recorded = _read_etc_timezone(root)
    if not localtime.is_file():  # no /etc/localtime: the C library's zone is UTC
        return recorded or "UTC"
    if not localtime.is_symlink() and recorded and _zone_bytes(recorded) == localtime.read_bytes():
        return recorded
    return zone_file_name(localtime)


def _read_etc_timezone(root: Path) -> str | None:
    try:
        text = (root / "etc" / "timezone").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    name = text.split("#", 1)[0].strip().replace(" ", "_")
    return name if is_zone_name(name) else None


def is_zone_name(name: str) -> bool:
    """Whether ``name`` is a zone ``zoneinfo`` loads on this machine."""
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone_file_name(path: Path) -> str | None:
    """The zone name of the zone file at ``path`` (a link is followed): what follows ``zoneinfo/`` in
    its real path, else the name of the installed zone file with the same content."""
    real = Path(os.path.realpath(path))
    parts = real.parts
    if "zoneinfo" in parts:
        tail = list(parts[len(parts) - parts[::-1].index("zoneinfo"):])
        if tail and tail[0] in ("posix", "right"):  # Debian's copies of the database, same names
            tail = tail[1:]
        name = "/".join(tail)
        if is_zone_name(name):
            return name
    try:
        content = real.read_bytes()
    except OSError:
        return None
    return _name_of_content(content)


def _name_of_content(content: bytes) -> str | None:
    # Zones that are links (Atlantic/Jan_Mayen to Europe/Berlin) have the same content: the zone wins.
    zones = _zone_names()
    names = sorted(zoneinfo.available_timezones() - _NOT_ZONES,
                   key=lambda n: (n not in zones, n.split("/", 1)[0] not in _AREAS, n))
    return next((name for name in names if _zone_bytes(name) == content), None)


def _zone_names() -> set[str]:
    """The names the tz database defines as zones (not links), from its ``tzdata.zi``."""
    text = (_zone_bytes("tzdata.zi") or b"").decode("utf-8", "replace")
    return {line.split()[1] for line in text.splitlines() if line.startswith("Z ") and len(line.split()) > 1}


def _zone_bytes(name: str) -> bytes | None:
    """The installed file ``name`` of the tz database, as ``zoneinfo`` finds it (its search path, then tzdata)."""
    for folder in zoneinfo.TZPATH:
        candidate = Path(folder, name)
        if candidate.is_file():
            return candidate.read_bytes()
    try:
        from importlib.resources import files

        return files("tzdata").joinpath("zoneinfo", *name.split("/")).read_bytes()
    except (ImportError, OSError, ValueError):
        return None


def _offset_now() -> timedelta:
    offset = datetime.now().astimezone().utcoffset()
    return offset if offset is not None else timedelta(0)


def fixed_offset_zone_name(offset: timedelta, tz: str = "") -> str:
    """``UTC``, or the tz database's fixed zone of ``offset`` (``Etc/GMT-2`` for UTC+02:00); ConfigError
    for an offset of no whole hours, which has none."""
    seconds = int(offset.total_seconds())
    if seconds == 0:
        return "UTC"
    hours, rest = divmod(seconds, 3600)
    sign = "+" if seconds > 0 else "-"
    shown = f"UTC{sign}{abs(seconds) // 3600:02d}:{abs(seconds) % 3600 // 60:02d}"
    source = f"TZ={tz!r}" if tz else "/etc/localtime"
    name = f"Etc/GMT{-hours:+d}"
    if rest or not is_zone_name(name):
        raise ConfigError(f"'system': this machine's time zone ({source}, {shown} now) has no zone name "
                          "flowctl can find; set a zone name such as Asia/Kolkata instead")
    log.warning("'system': this machine's time zone (%s) has no zone name flowctl can find; using %s, "
                "%s all year round (no daylight saving time): set a zone name to get the real one",
                source, name, shown)
    return name
