"""The task instance page's log: a whole log however long, its download, and a sensor's try between pokes.

Through the test client (the page and the requests its script makes, followed here
by hand) and in headless Chromium (the script itself).
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.db.records import DagRunRecord
from flowctl.db.store import Store
from flowctl.settings import Settings
from tests.web.conftest import wait_until
from tests.web.webdata import Seeded, make_run

LINES = 40_000  # ~2 MB: four of the page's 512 KB chunks


def q(text: str) -> str:
    return quote(text, safe="")


def ti_path(run: DagRunRecord, task_id: str) -> str:
    return f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/{q(task_id)}"


def write_log(settings: Settings, run: DagRunRecord, task_id: str, text: str, attempt: int = 1) -> Path:
    folder = (Path(settings.base_log_folder) / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
              / f"task_id={task_id}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"attempt={attempt}.log"
    path.write_text(text)
    return path


def big_log() -> str:
    return "".join(f"[2024-03-01 06:00:00] {{task}} INFO - line {i:05d} of the long task\n" for i in range(LINES)) \
        + "Traceback (most recent call last): the error is at the very end\n"


def attr(page_html: str, name: str) -> str:
    found = re.search(rf'<pre class="log" id="log"[^>]*\s{name}="([^"]*)"', page_html)
    return "" if found is None else html.unescape(found.group(1))


def log_shown_by_the_page(client: FlaskClient, url: str) -> str:
    """What the page shows once its script has fetched every chunk it asks for (followed by hand)."""
    page = client.get(url).get_data(as_text=True)
    pre = re.search(r'<pre class="log" id="log"[^>]*>(.*?)</pre>', page, re.S)
    assert pre
    text, offset, chunks = html.unescape(pre.group(1)), int(attr(page, "data-offset")), 0
    if attr(page, "data-more") != "true":
        return text
    while True:
        chunk = client.get(f"{attr(page, 'data-url')}&offset={offset}").get_json()
        text, offset, chunks = text + chunk["text"], chunk["offset"], chunks + 1
        if not chunk["text"]:
            return text
        assert chunks < 100


# --- a long log ----------------------------------------------------------------------------------------------

def test_a_finished_tries_log_is_shown_to_its_last_line(admin_client: FlaskClient, web_settings: Settings,
                                                        seeded: Seeded) -> None:
    run = seeded.failed_run
    write_log(web_settings, run, "web.fetch", big_log())
    shown = log_shown_by_the_page(admin_client, ti_path(run, "web.fetch"))
    assert shown == big_log()



def test_an_offset_past_the_logs_end_reads_nothing_and_one_no_file_can_reach_is_a_400(
        admin_client: FlaskClient, web_settings: Settings, seeded: Seeded) -> None:
    """Before: a 500 (a seek past 2**63), and a full-width digit read as a number."""
    run = seeded.failed_run
    write_log(web_settings, run, "web.fetch", "fetching\n")
    url = ti_path(run, "web.fetch") + "/log?try=1"
    for offset in ("99999999999999999999999", str(2**63), "%EF%BC%91", "-1", "x"):
        assert admin_client.get(f"{url}&offset={offset}").status_code == 400, offset
    for offset in ("9", "1000", str(2**63 - 1)):
        chunk = admin_client.get(f"{url}&offset={offset}").get_json()
        assert (chunk["text"], chunk["offset"], chunk["size"], chunk["more"]) == ("", 9, 9, False), offset
    assert admin_client.get(f"{url}&offset=4").get_json()["text"] == "hing\n"

def test_the_download_link_returns_the_whole_log_as_plain_text(admin_client: FlaskClient,
                                                                web_settings: Settings, seeded: Seeded) -> None:
    run = seeded.failed_run
    write_log(web_settings, run, "web.fetch", big_log())
    page = admin_client.get(ti_path(run, "web.fetch")).get_data(as_text=True)
    link = re.search(r'<a [^>]*id="log-download"[^>]*href="([^"]+)"', page)
    assert link, "no download link"
    with admin_client.get(html.unescape(link.group(1))) as response:
        assert response.status_code == 200 and response.mimetype == "text/plain"
        assert "attachment" in response.headers["Content-Disposition"]
        assert response.get_data(as_text=True) == big_log()


def test_the_download_needs_read_access_and_an_existing_log(admin_client: FlaskClient, client: FlaskClient,
                                                            web_settings: Settings, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = ti_path(run, "web.fetch") + "/log/download?try=1"
    assert admin_client.get(url).status_code == 404  # no file yet
    write_log(web_settings, run, "web.fetch", "secret-free line\n")
    with admin_client.get(url) as response:
        assert response.status_code == 200
    assert client.get(url).status_code in (302, 401)  # not logged in
    assert admin_client.get(ti_path(run, "no.such.task") + "/log/download?try=1").status_code == 404
    assert admin_client.get(ti_path(run, "web.fetch") + "/log/download?try=7").status_code == 404


# --- a sensor between pokes ------------------------------------------------------------------------------

def rescheduled(store: Store, run: DagRunRecord, task_id: str, at: datetime) -> TaskInstanceKey:
    """The task instance after one poke of a reschedule-mode sensor: up_for_reschedule, try_number back to 0."""
    key = TaskInstanceKey(run.dag_id, run.run_id, task_id)
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=at)
    assert store.claim_queued_task(key, "worker-1", 42, at + timedelta(seconds=1))
    again = at + timedelta(minutes=5)
    assert store.finish_try(key, "up_for_reschedule", at + timedelta(seconds=2), running_try=1,
                            reschedule_date=again, try_number=0)
    store.record_reschedule(key, 1, at + timedelta(seconds=1), at + timedelta(seconds=2), again)
    assert store.get_task_instance(key).try_number == 0
    return key


def test_a_sensor_waiting_between_pokes_shows_its_current_try_and_its_poke_log(
        admin_client: FlaskClient, web_store: Store, web_settings: Settings, seeded: Seeded) -> None:
    run = make_run(web_store, seeded.dag_id, 5)
    rescheduled(web_store, run, "start", run.logical_date)
    write_log(web_settings, run, "start", "poke 1: the file is not there yet\n")
    page = admin_client.get(ti_path(run, "start")).get_data(as_text=True)
    assert "has not run yet" not in page
    assert re.search(r"<th>Try</th><td>1 of \d+</td>", page)
    assert "try 1" in page and "poke 1: the file is not there yet" in page
    shown = admin_client.get(ti_path(run, "start") + "/log").get_json()
    assert shown["try"] == 1 and shown["text"] == "poke 1: the file is not there yet\n"
    with admin_client.get(ti_path(run, "start") + "/log/download?try=1") as download:
        assert download.status_code == 200 and b"poke 1" in download.data


def test_the_api_serves_a_waiting_sensors_poke_log(admin_client: FlaskClient, web_store: Store,
                                                   web_settings: Settings, seeded: Seeded) -> None:
    """Before: the API said "start has no try 1 (its tries: 1 to 0)" while the sensor waited."""
    run = make_run(web_store, seeded.dag_id, 5)
    rescheduled(web_store, run, "start", run.logical_date)
    write_log(web_settings, run, "start", "poke 1: the file is not there yet\n")
    answer = admin_client.get(f"/api/v1/dags/{run.dag_id}/dagRuns/{q(run.run_id)}/taskInstances/start/logs/1")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "poke 1: the file is not there yet" in answer.get_data(as_text=True)
    assert admin_client.get(f"/api/v1/dags/{run.dag_id}/dagRuns/{q(run.run_id)}/taskInstances/start/logs/2"
                            ).status_code == 404


def test_a_deferred_tries_page_follows_its_log_where_the_triggerer_adds_its_triggers_lines(
        admin_client: FlaskClient, web_store: Store, web_settings: Settings, seeded: Seeded) -> None:
    """Before: the page followed a running try only; a deferred one's trigger lines needed a reload."""
    run = make_run(web_store, seeded.dag_id, 5)
    key = TaskInstanceKey(run.dag_id, run.run_id, "start")
    at = run.logical_date
    assert web_store.set_task_state(key, "pending", "scheduled")
    assert web_store.set_task_state(key, "scheduled", "queued", queued_at=at)
    assert web_store.claim_queued_task(key, "worker-1", 42, at)
    assert web_store.defer_try(key, 1, "flowctl.triggers.temporal.DateTimeTrigger", {}, "done", {}, None, at)
    path = write_log(web_settings, run, "start", "Pausing task as DEFERRED\n")
    page = admin_client.get(ti_path(run, "start")).get_data(as_text=True)
    assert attr(page, "data-follow") == "true" and "following the try's log" in page
    offset = int(attr(page, "data-offset"))
    with path.open("a") as log:
        log.write("[triggerer] trigger 1 fired: TriggerEvent<True>; the task resumes\n")
    more = admin_client.get(ti_path(run, "start") + f"/log?try=1&offset={offset}").get_json()
    assert more["running"] and more["text"].startswith("[triggerer] trigger 1 fired")
    assert web_store.fire_trigger(web_store.get_task_instance(key).trigger_id, True, at) == [key]
    assert admin_client.get(ti_path(run, "start") + "/log?try=1").get_json()["running"]  # resumes in try 1
    web_store.mark_task_instances([key], "failed", at)
    assert not admin_client.get(ti_path(run, "start") + "/log?try=1").get_json()["running"]


@pytest.mark.parametrize("suffix", ["?map_index=-99999999999999999999", "?map_index=99999999999999999999",
                                    "/log?map_index=99999999999999999999"])
def test_a_map_index_no_task_instance_can_have_is_a_404_on_the_pages(admin_client: FlaskClient, web_store: Store,
                                                                    seeded: Seeded, suffix: str) -> None:
    """Before: a 500 on SQLite (OverflowError: Python int too large to convert to SQLite INTEGER)."""
    run = make_run(web_store, seeded.dag_id, 5)
    assert admin_client.get(ti_path(run, "start") + suffix).status_code == 404


def test_the_run_page_shows_a_waiting_sensors_current_try(admin_client: FlaskClient, web_store: Store,
                                                          seeded: Seeded) -> None:
    run = make_run(web_store, seeded.dag_id, 5)
    rescheduled(web_store, run, "start", run.logical_date)
    page = admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}").get_data(as_text=True)
    row = re.search(r'<tr data-task-id="start".*?</tr>', page, re.S)
    assert row and re.search(r"</span></td><td>1</td>", row.group(0))


@pytest.mark.parametrize(("state", "stored", "poked", "shown"), [
    ("up_for_reschedule", 0, False, 1), ("up_for_reschedule", 2, False, 3), ("queued", 0, True, 1),
    ("queued", 0, False, 0), ("running", 1, False, 1), ("failed", 2, False, 2)])
def test_the_try_shown_is_the_one_being_poked_between_pokes(state: str, stored: int, poked: bool,
                                                            shown: int) -> None:
    from flowctl.web.run_views import shown_try

    assert shown_try(state, stored, poked=poked) == shown


# --- in a browser --------------------------------------------------------------------------------------------

def test_the_page_loads_a_long_log_to_its_end_in_the_browser(admin_tab: Any, web_settings: Settings,
                                                             seeded: Seeded) -> None:
    run = seeded.failed_run
    write_log(web_settings, run, "web.fetch", big_log())
    admin_tab.goto(ti_path(run, "web.fetch"))
    wait_until(admin_tab, "() => document.getElementById('log').textContent.includes('the very end')")
    assert admin_tab.eval_on_selector("#log", "pre => pre.textContent") == big_log()
    wait_until(admin_tab, "() => document.getElementById('log').dataset.complete === 'true'")
    assert not admin_tab.is_visible("#log-truncated") and admin_tab.is_visible("#log-download")


def test_a_followed_log_opens_scrolled_to_its_end(admin_tab: Any, web_settings: Settings, seeded: Seeded) -> None:
    run = seeded.running_run
    write_log(web_settings, run, "crm.fetch", "".join(f"fetching page {i}\n" for i in range(2000)))
    admin_tab.goto(ti_path(run, "crm.fetch"))
    wait_until(admin_tab, "() => { const p = document.getElementById('log');"
                          " return p.scrollHeight > p.clientHeight"
                          " && p.scrollTop + p.clientHeight >= p.scrollHeight - 8; }", 10.0)
