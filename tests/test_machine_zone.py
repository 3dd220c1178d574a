"""This machine's zone by name, what ``system`` means: the TZ variable, /etc/localtime, /etc/timezone.

Each test builds the machine's /etc in a temporary root; the zone files are the installed tz database's.
"""
from __future__ import annotations

import shutil
import zoneinfo
from datetime import timedelta
from pathlib import Path

import pytest

from flowctl.core.errors import ConfigError
from flowctl.machine_zone import machine_zone_name


def _zone_file(name: str) -> Path:
    """The installed zone file of ``name`` (the system's, else the tzdata package's)."""
    for folder in zoneinfo.TZPATH:
        if Path(folder, name).is_file():
            return Path(folder, name)
    from importlib.resources import files

    return Path(str(files("tzdata").joinpath("zoneinfo", *name.split("/"))))


def _etc(root: Path, localtime: str | None = None, *, copy: str | None = None, timezone: str | None = None) -> str:
    """``root``/etc with /etc/localtime a link to ``localtime``'s zone file or a copy of ``copy``'s, and
    Debian's /etc/timezone saying ``timezone``."""
    (root / "etc").mkdir(parents=True)
    if localtime:
        (root / "etc" / "localtime").symlink_to(_zone_file(localtime))
    if copy:
        shutil.copyfile(_zone_file(copy), root / "etc" / "localtime")
    if timezone:
        (root / "etc" / "timezone").write_text(timezone + "\n")
    return str(root)


def test_the_tz_variable_names_the_zone_before_the_files(tmp_path: Path) -> None:
    root = _etc(tmp_path, "Europe/Paris", timezone="Europe/Paris")
    assert machine_zone_name({"TZ": "Asia/Tokyo"}, root) == "Asia/Tokyo"
    assert machine_zone_name({"TZ": ":America/New_York"}, root) == "America/New_York"
    assert machine_zone_name({"TZ": f":{_zone_file('Australia/Sydney')}"}, root) == "Australia/Sydney"
    assert machine_zone_name({"TZ": "utc"}, root) == "UTC"


def test_without_tz_the_zone_etc_localtime_links_to_wins_over_a_stale_etc_timezone(tmp_path: Path) -> None:
    root = _etc(tmp_path, "America/Sao_Paulo", timezone="Europe/Paris")
    assert machine_zone_name({}, root) == "America/Sao_Paulo"
    assert machine_zone_name({"TZ": ""}, root) == "America/Sao_Paulo"  # set but empty: not set


def test_a_copied_etc_localtime_is_named_by_the_zone_file_it_equals(tmp_path: Path) -> None:
    assert machine_zone_name({}, _etc(tmp_path / "a", copy="Asia/Kolkata")) == "Asia/Kolkata"
    # a link's copy is named by its zone, not by another link to the same data
    assert machine_zone_name({}, _etc(tmp_path / "b", copy="US/Pacific")) == "America/Los_Angeles"
    # Debian's record, when it agrees with the copy, says which of the equal names the machine uses
    assert machine_zone_name({}, _etc(tmp_path / "c", copy="US/Pacific", timezone="US/Pacific")) == "US/Pacific"


def test_a_copied_etc_localtime_that_etc_timezone_disagrees_with_is_named_by_its_content(tmp_path: Path) -> None:
    assert machine_zone_name({}, _etc(tmp_path, copy="Europe/Berlin", timezone="Asia/Tokyo")) == "Europe/Berlin"


def test_without_etc_localtime_debians_record_names_the_zone_else_it_is_utc(tmp_path: Path) -> None:
    assert machine_zone_name({}, _etc(tmp_path / "a", timezone="Africa/Nairobi")) == "Africa/Nairobi"
    assert machine_zone_name({}, _etc(tmp_path / "b")) == "UTC"


def test_a_zone_with_no_name_is_the_fixed_zone_of_the_offset_it_has_now(tmp_path: Path) -> None:
    root = _etc(tmp_path, "Europe/Paris")
    posix_rule = {"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}  # what the C library reads, no zone name
    assert machine_zone_name(posix_rule, root, local_offset=timedelta(hours=2)) == "Etc/GMT-2"  # tz's signs
    assert machine_zone_name({"TZ": "EST+5"}, root, local_offset=timedelta(hours=-5)) == "Etc/GMT+5"
    assert machine_zone_name({"TZ": "GMT0"}, root, local_offset=timedelta(0)) == "GMT0"  # a zone name after all
    assert machine_zone_name({"TZ": "XYZ0"}, root, local_offset=timedelta(0)) == "UTC"
    private = tmp_path / "private_zone"  # a zone file of no installed zone
    private.write_bytes(_zone_file("Europe/Paris").read_bytes() + b"\n")
    assert machine_zone_name({"TZ": str(private)}, root, local_offset=timedelta(hours=1)) == "Etc/GMT-1"


def test_an_offset_of_no_whole_hours_with_no_zone_name_is_a_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        machine_zone_name({"TZ": "IST-5:30"}, _etc(tmp_path), local_offset=timedelta(hours=5, minutes=30))
    message = str(raised.value)
    assert "\n" not in message and "UTC+05:30" in message and "TZ='IST-5:30'" in message
    assert "zone name such as" in message


def test_this_machine_has_a_zone_name_zoneinfo_loads() -> None:
    zoneinfo.ZoneInfo(machine_zone_name())
