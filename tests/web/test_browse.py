"""Browse pages: runs and task instances with filters, bulk actions on a selection, the timeline."""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient

from flowctl.db.records import TaskInstanceKey
from flowctl.db.store import Store
from flowctl.web.browse import parse_when
from flowctl.web.bulk import parse_run_keys, parse_ti_keys
from tests.web.conftest import basic, post
from tests.web.webdata import Seeded, seed_cluster


def _ti(seeded: Seeded, run_id: str, task_id: str) -> str:
    return json.dumps([seeded.dag_id, run_id, task_id, -1])


def test_browse_runs_lists_every_run_and_filters_by_state(viewer_client: FlaskClient, seeded: Seeded) -> None:
    body = viewer_client.get("/browse/runs").get_data(as_text=True)
    for run in (seeded.success_run, seeded.failed_run, seeded.running_run):
        assert run.run_id in body
    failed = viewer_client.get("/browse/runs?state=failed").get_data(as_text=True)
    assert seeded.failed_run.run_id in failed and seeded.running_run.run_id not in failed
    assert "1–1 of 1" in failed


def test_browse_task_instances_filters_by_run_and_state(viewer_client: FlaskClient, seeded: Seeded) -> None:
    url = f"/browse/task-instances?dag_id={seeded.dag_id}&state=upstream_failed"
    body = viewer_client.get(url).get_data(as_text=True)
    names = re.findall(r'/tasks/([\w.]+)"', body)
    assert sorted(names) == ["merge", "web.clean"]
    assert "1–2 of 2" in body


def test_browse_pages_have_links_that_keep_the_run(viewer_client: FlaskClient, seeded: Seeded) -> None:
    query = urlencode({"run_id": seeded.failed_run.run_id})
    body = viewer_client.get(f"/browse/task-instances?{query}").get_data(as_text=True)
    quoted = seeded.failed_run.run_id.replace(":", "%3A").replace("+", "%2B")
    assert f"/dags/{seeded.dag_id}/runs/{quoted}/tasks/web.fetch" in body


def test_bulk_clear_sends_selected_task_instances_back_to_pending(user_client: FlaskClient, seeded: Seeded,
                                                                  web_store: Store) -> None:
    run_id = seeded.failed_run.run_id
    data = {"action": "clear", "ti": [_ti(seeded, run_id, "web.fetch"), _ti(seeded, run_id, "merge")]}
    assert post(user_client, "/browse/task-instances/action", data).status_code == 302
    states = {t.task_id: t.state for t in web_store.list_task_instances(seeded.failed_run.key)}
    assert states["web.fetch"] == states["merge"] == "pending"
    assert states["web.clean"] == "upstream_failed"
    assert web_store.get_run(seeded.dag_id, run_id).state == "queued"
    assert {a.task_id for a in web_store.list_audit(event="clear")} == {"web.fetch", "merge"}


def test_bulk_mark_success_and_failed_change_the_selection(user_client: FlaskClient, seeded: Seeded,
                                                           web_store: Store) -> None:
    run_id = seeded.failed_run.run_id
    post(user_client, "/browse/task-instances/action", {"action": "mark_success", "ti": _ti(seeded, run_id, "web.fetch")})
    post(user_client, "/browse/task-instances/action", {"action": "mark_failed", "ti": _ti(seeded, run_id, "start")})
    states = {t.task_id: t.state for t in web_store.list_task_instances(seeded.failed_run.key)}
    assert (states["web.fetch"], states["start"]) == ("success", "failed")


def test_bulk_kill_runs_fails_the_selected_running_run(user_client: FlaskClient, seeded: Seeded,
                                                       web_store: Store) -> None:
    data = {"action": "kill_runs", "run": json.dumps([seeded.dag_id, seeded.running_run.run_id])}
    assert post(user_client, "/browse/runs/action", data).status_code == 302
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "failed"
    key = TaskInstanceKey(seeded.dag_id, seeded.running_run.run_id, "crm.fetch")
    assert web_store.get_task_instance(key).state == "failed"
    assert [r.key for r in web_store.kill_requests(seeded.running_run.logical_date)] == [key]


def test_bulk_mark_runs_success_marks_their_tasks_and_the_run(user_client: FlaskClient, seeded: Seeded,
                                                              web_store: Store) -> None:
    data = {"action": "mark_success", "run": json.dumps([seeded.dag_id, seeded.failed_run.run_id])}
    post(user_client, "/browse/runs/action", data)
    assert web_store.get_run(seeded.dag_id, seeded.failed_run.run_id).state == "success"
    assert {t.state for t in web_store.list_task_instances(seeded.failed_run.key)} == {"success"}


def test_bulk_mark_runs_failed_leaves_their_teardowns_to_run(user_client: FlaskClient, seeded: Seeded,
                                                            web_store: Store) -> None:
    run = seed_cluster(web_store)
    data = {"action": "mark_failed", "run": json.dumps([run.dag_id, run.run_id])}
    post(user_client, "/browse/runs/action", data)
    assert web_store.get_run(run.dag_id, run.run_id).state == "failed"
    assert {t.task_id: t.state for t in web_store.list_task_instances(run.key)} == {
        "create": "success", "work": "failed", "delete": "pending"}


def test_a_bulk_action_needs_a_selection_and_a_known_action(user_client: FlaskClient, seeded: Seeded) -> None:
    assert post(user_client, "/browse/task-instances/action", {"action": "clear"}).status_code == 400
    bad = {"action": "explode", "ti": _ti(seeded, seeded.failed_run.run_id, "merge")}
    assert post(user_client, "/browse/task-instances/action", bad).status_code == 400
    assert post(user_client, "/browse/task-instances/action", {"action": "clear", "ti": "not json"}).status_code == 400



def test_a_selected_key_holding_a_lone_surrogate_is_a_400(user_client: FlaskClient, seeded: Seeded) -> None:
    """The form's JSON is ASCII (``\\ud800``): the request guard passes it, and the key's id was a 500
    in the query (UnicodeEncodeError)."""
    run = seeded.failed_run
    for url, field, key in (("/browse/runs/action", "run", [run.dag_id, "r\ud800"]),
                            ("/browse/task-instances/action", "ti", [run.dag_id, run.run_id, "\udc00", -1])):
        response = post(user_client, url, {"action": "clear", field: json.dumps(key)})
        assert response.status_code == 400, response.get_data(as_text=True)[:300]

def test_selection_keys_parse_from_json_whatever_the_ids_hold() -> None:
    [ti] = parse_ti_keys([json.dumps(["d", "manual__2024/01:00+x", "g.t", 3])])
    assert (ti.run_id, ti.task_id, ti.map_index) == ("manual__2024/01:00+x", "g.t", 3)
    [run] = parse_run_keys([json.dumps(["d", "r|1"])])
    assert run.run_id == "r|1"


def test_the_timeline_api_returns_the_tries_in_the_window(viewer_client: FlaskClient, seeded: Seeded) -> None:
    day = seeded.failed_run.logical_date
    window = urlencode({"start": day.isoformat(), "end": day.replace(hour=23).isoformat()})
    body = viewer_client.get(f"/api/v1/timeline?{window}").get_json()
    tasks = sorted(b["task_id"] for b in body["bars"])
    assert tasks == ["billing.clean", "billing.fetch", "crm.clean", "crm.fetch", "start", "web.fetch"]
    assert all(b["run_id"] == seeded.failed_run.run_id for b in body["bars"])
    assert viewer_client.get("/api/v1/timeline?start=2024-02-02&end=2024-02-01").status_code == 400
    assert viewer_client.get("/api/v1/timeline?start=yesterday").status_code == 400
    assert 'id="timeline-chart"' in viewer_client.get("/timeline").get_data(as_text=True)


def test_dates_from_forms_are_utc_unless_they_say_otherwise() -> None:
    assert parse_when("2024-01-02").isoformat() == "2024-01-02T00:00:00+00:00"
    assert parse_when("2024-01-02T03:04+02:00").isoformat() == "2024-01-02T01:04:00+00:00"  # the same instant
    assert parse_when("2024-01-02T03:04:00Z").isoformat() == "2024-01-02T03:04:00+00:00"
    assert parse_when("  ") is None


#: Dates that parse but fall before 0001-01-01 or after 9999-12-31 once in UTC.
OFF_THE_CALENDAR = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")


def _assert_400(response: Any, mimetype: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == mimetype
    if mimetype == "application/json":
        assert set(response.get_json()) == {"status", "title", "detail"}


@pytest.mark.parametrize("date", OFF_THE_CALENDAR)
def test_a_date_off_the_calendar_in_utc_is_a_400_from_every_api_that_reads_one(
        client: FlaskClient, users: dict[str, str], seeded: Seeded, date: str) -> None:
    """Before: a 500 (an OverflowError converting it to UTC)."""
    auth, dag, run = basic("admin", users["admin"]), seeded.dag_id, seeded.success_run.run_id
    api, q = "/api/v1", quote(date)
    for url in (f"{api}/dags/{dag}/dagRuns?execution_date_gte={q}",
                f"{api}/dags/{dag}/dagRuns/{run}/taskInstances?start_date_gte={q}",
                f"{api}/eventLogs?after={q}", f"{api}/eventLogs?before={q}",
                f"{api}/timeline?start={q}", f"{api}/timeline?end={q}"):
        _assert_400(client.get(url, headers=auth), "application/json")
    for url, body in ((f"{api}/dags/{dag}/dagRuns", {"logical_date": date}),
                      (f"{api}/dags/~/dagRuns/list", {"execution_date_gte": date}),
                      (f"{api}/dags/~/dagRuns/~/taskInstances/list", {"start_date_lte": date}),
                      (f"{api}/dags/{dag}/clearTaskInstances", {"start_date": date, "dry_run": True}),
                      (f"{api}/dags/{dag}/clearTaskInstances", {"end_date": date, "dry_run": True})):
        _assert_400(client.post(url, json=body, headers=auth), "application/json")


@pytest.mark.parametrize("date", OFF_THE_CALENDAR)
def test_a_date_off_the_calendar_in_utc_is_a_400_page_or_the_form_again(admin_client: FlaskClient,
                                                                        seeded: Seeded, date: str) -> None:
    dag, q = seeded.dag_id, quote(date)
    for url in (f"/timeline?start={q}", f"/timeline?end={q}", f"/browse/runs?start={q}",
                f"/browse/runs?end={q}", f"/log?dag_id={dag}&task_id=start&execution_date={q}"):
        _assert_400(admin_client.get(url), "text/html")
    trigger = post(admin_client, f"/dags/{dag}/trigger", {"logical_date": date})
    _assert_400(trigger, "text/html")
    assert "not between the years 1 and 9999" in trigger.get_data(as_text=True)
    _assert_400(post(admin_client, f"/dags/{dag}/backfill", {"start": date, "end": date}), "text/html")


def test_a_window_ending_at_the_first_moment_or_a_backfill_to_the_last_day_is_not_a_500(
        admin_client: FlaskClient, seeded: Seeded) -> None:
    """The timeline's default start (a day before its end) and the backfill's end of day left the calendar."""
    _assert_400(admin_client.get("/api/v1/timeline?end=0001-01-01"), "application/json")
    assert admin_client.get("/timeline?end=0001-01-01").status_code == 200
    last_days = post(admin_client, f"/dags/{seeded.dag_id}/backfill", {"start": "9999-12-30", "end": "9999-12-31"})
    assert last_days.status_code == 200, last_days.get_data(as_text=True)[:300]
    # 06:00 daily: the run of the 31st would end in the year 10000, so only the 30th's is planned
    assert "Backfill 1 date(s)" in last_days.get_data(as_text=True)
    assert "backfill__9999-12-30T06:00:00+00:00" in last_days.get_data(as_text=True)



def test_browse_jobs_lists_scheduler_and_triggerer_jobs_and_filters_them(viewer_client: FlaskClient,
                                                                         web_store: Store) -> None:
    from tests.web.webdata import T0

    scheduler = web_store.create_job("scheduler", "host-a", 101, T0, executor_class="LocalExecutor")
    triggerer = web_store.create_job("triggerer", "host-b", 202, T0)
    assert web_store.end_job(triggerer.id, "success", T0)
    html = viewer_client.get("/browse/jobs").get_data(as_text=True)
    assert 'id="jobs"' in html and "scheduler" in html and "triggerer" in html and "host-b" in html
    only = viewer_client.get("/browse/jobs?job_type=scheduler&state=running").get_data(as_text=True)
    assert "host-a" in only and "host-b" not in only and str(scheduler.pid) in only
    assert 'href="/browse/jobs"' in viewer_client.get("/").get_data(as_text=True)  # in the Browse menu
    legacy = viewer_client.get("/job/list/?_flt_0_job_type=triggerer")
    assert legacy.status_code in (301, 302, 308) and "/browse/jobs?job_type=triggerer" in legacy.headers["Location"]
