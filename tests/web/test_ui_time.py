"""The pages' time zone: [webserver] default_ui_timezone, the zone menu's cookie, forms read in it."""
from __future__ import annotations

import re
from urllib.parse import quote
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.web.app import create_app
from flowctl.web.ui_time import COOKIE
from tests.web.conftest import Clock, post
from tests.web.webdata import Seeded

# The seeded success run's logical date is 2024-02-20 06:00 UTC (winter: Amsterdam is UTC+1).


def run_page(client: FlaskClient, seeded: Seeded) -> str:
    run = seeded.success_run
    return client.get(f"/dags/{seeded.dag_id}/runs/{run.run_id}").get_data(as_text=True)


def logical_date_cell(html: str) -> str:
    found = re.search(r"<th>Logical date</th><td>([^<]*)</td>", html)
    assert found, html[:2000]
    return found.group(1)


def test_times_are_shown_in_utc_by_default_with_the_zone_named_in_the_menu(
        user_client: FlaskClient, seeded: Seeded) -> None:
    html = run_page(user_client, seeded)
    assert logical_date_cell(html) == "2024-02-20 06:00:00"
    assert '<meta name="ui-timezone" content="UTC">' in html
    assert re.search(r'<select id="tz-select"[^>]*>\s*<option value="UTC" selected>UTC</option>', html)


def test_the_zone_a_person_picked_is_used_for_every_time_on_the_page(user_client: FlaskClient, seeded: Seeded) -> None:
    user_client.set_cookie(COOKIE, "Europe/Amsterdam")
    html = run_page(user_client, seeded)
    assert logical_date_cell(html) == "2024-02-20 07:00:00"
    assert '<meta name="ui-timezone" content="Europe/Amsterdam">' in html
    assert '<option value="Europe/Amsterdam" selected>Europe/Amsterdam</option>' in html


def test_a_zone_this_machine_does_not_know_is_ignored(user_client: FlaskClient, seeded: Seeded) -> None:
    user_client.set_cookie(COOKIE, "Mars/Olympus_Mons")
    html = run_page(user_client, seeded)
    assert logical_date_cell(html) == "2024-02-20 06:00:00" and "Mars" not in html


@pytest.fixture
def amsterdam_app(web_settings: Settings, web_store: Store, clock: Clock, tmp_path: Path) -> Flask:
    flask_app = create_app(_with_zone(web_settings, tmp_path, "Europe/Amsterdam"), web_store, clock)
    flask_app.config["TESTING"] = True
    return flask_app


def _with_zone(web_settings: Settings, tmp_path: Path, zone: str) -> Settings:
    env = {"FLOWCTL_HOME": str(tmp_path),
           "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": str(web_settings.get("database", "sql_alchemy_conn")),
           "FLOWCTL__WEBSERVER__SECRET_KEY": str(web_settings.get("webserver", "secret_key")),
           "FLOWCTL__LOGGING__BASE_LOG_FOLDER": str(web_settings.get("logging", "base_log_folder")),
           "FLOWCTL__WEBSERVER__DEFAULT_UI_TIMEZONE": zone}
    return Settings.load(environ=env)


def test_default_ui_timezone_sets_the_zone_of_people_who_picked_none(
        amsterdam_app: Flask, users: dict[str, str], seeded: Seeded) -> None:
    from tests.web.conftest import _logged_in

    client = _logged_in(amsterdam_app, users, "user")
    html = run_page(client, seeded)
    assert logical_date_cell(html) == "2024-02-20 07:00:00"
    assert '<option value="Europe/Amsterdam" selected>Europe/Amsterdam (server default)</option>' in html
    client.set_cookie(COOKIE, "UTC")  # the menu's UTC wins over the default
    assert logical_date_cell(run_page(client, seeded)) == "2024-02-20 06:00:00"


def test_system_means_the_web_servers_own_zone() -> None:
    from flowctl.web import ui_time

    assert ui_time.known_zone(ui_time.system_zone_name())


def test_a_bad_default_ui_timezone_is_refused_when_the_settings_load(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="default_ui_timezone"):
        Settings.load(environ={"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__WEBSERVER__DEFAULT_UI_TIMEZONE": "Nowhere/City"})


def test_the_trigger_forms_naive_logical_date_is_in_the_pages_zone(user_client: FlaskClient, web_store: Store,
                                                                   seeded: Seeded) -> None:
    user_client.set_cookie(COOKIE, "Europe/Amsterdam")
    form = user_client.get(f"/dags/{seeded.dag_id}/trigger").get_data(as_text=True)
    assert "Logical date (Europe/Amsterdam)" in form
    response = post(user_client, f"/dags/{seeded.dag_id}/trigger",
                    {"conf": "{}", "run_id": "local", "logical_date": "2024-07-01T09:30"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    run = web_store.get_run(seeded.dag_id, "local")
    assert run.logical_date == datetime(2024, 7, 1, 7, 30, tzinfo=timezone.utc)  # summer: UTC+2


def test_the_browse_filters_read_naive_times_in_the_pages_zone(user_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.success_run  # 06:00 UTC = 07:00 Amsterdam
    user_client.set_cookie(COOKIE, "Europe/Amsterdam")
    day = run.logical_date.strftime("%Y-%m-%d")
    shown = user_client.get(f"/browse/runs?start={day}T06:30&end={day}T07:30").get_data(as_text=True)
    assert run.run_id in shown
    hidden = user_client.get(f"/browse/runs?start={day}T07:30&end={day}T08:30").get_data(as_text=True)
    assert run.run_id not in hidden



@pytest.mark.parametrize(("zone", "start", "end", "shown"), [
    ("America/New_York", "0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", "0001-01-01T00:00"),
    ("Asia/Tokyo", "9999-12-30T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59")])
def test_a_time_that_is_off_the_calendar_in_the_pages_zone_shows_as_the_zones_first_or_last_moment(
        user_client: FlaskClient, zone: str, start: str, end: str, shown: str) -> None:
    """Before: a 500 (an OverflowError showing 0001-01-01 00:00 UTC in New York, in the year 0)."""
    user_client.set_cookie(COOKIE, zone)
    response = user_client.get(f"/timeline?start={quote(start)}&end={quote(end)}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert f'value="{shown}"' in response.get_data(as_text=True)

def test_the_api_keeps_utc_whatever_the_pages_zone(user_client: FlaskClient, seeded: Seeded) -> None:
    user_client.set_cookie(COOKIE, "Europe/Amsterdam")
    run = seeded.success_run
    body = user_client.get(f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}").get_json()
    assert body["logical_date"].startswith((run.logical_date - timedelta(0)).strftime("%Y-%m-%dT06:00:00"))


def test_the_gantt_table_shows_its_tries_times_in_the_pages_zone(user_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.success_run  # its "start" task queued at 06:00:00 UTC
    user_client.set_cookie(COOKIE, "Europe/Amsterdam")
    html = user_client.get(f"/dags/{seeded.dag_id}/gantt?run_id={quote(run.run_id)}").get_data(as_text=True)
    table = html[html.index('id="gantt-table"'):html.index('</table>')]
    assert "2024-02-20 07:00:0" in table and "+00:00" not in table
