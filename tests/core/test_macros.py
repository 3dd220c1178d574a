"""The macros namespace: date-string helpers and Airflow's re-exported names."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pendulum

import flowctl.macros
from flowctl.core import macros


def test_ds_add_moves_a_date_string_forward_and_back() -> None:
    assert macros.ds_add("2024-03-10", 5) == "2024-03-15"
    assert macros.ds_add("2024-03-01", -1) == "2024-02-29"


def test_ds_add_with_zero_days_returns_the_same_string() -> None:
    assert macros.ds_add("2024-03-10", 0) == "2024-03-10"


def test_ds_format_reformats_a_date_string() -> None:
    assert macros.ds_format("2024-03-10", "%Y-%m-%d", "%d/%m/%Y") == "10/03/2024"
    assert macros.ds_format("20240310", "%Y%m%d", "%Y-%m-%d") == "2024-03-10"


def test_datetime_diff_for_humans_describes_the_gap_in_words() -> None:
    since = pendulum.datetime(2024, 3, 12)
    assert macros.datetime_diff_for_humans(pendulum.datetime(2024, 3, 10), since) == "2 days before"


def test_the_namespace_exposes_airflows_standard_names() -> None:
    assert macros.datetime is dt.datetime
    assert macros.timedelta is dt.timedelta
    assert macros.time is time
    assert macros.uuid is uuid
    assert macros.json is json
    assert 0.0 <= macros.random() < 1.0


def test_the_airflow_compatible_path_reexports_the_same_objects() -> None:
    for name in macros.__all__:
        assert getattr(flowctl.macros, name) is getattr(macros, name)


def test_dateutil_is_reachable_as_in_airflow_macros() -> None:
    for namespace in (macros, flowctl.macros):
        month_later = dt.date(2024, 1, 31) + namespace.dateutil.relativedelta.relativedelta(months=1)
        assert month_later == dt.date(2024, 2, 29)
