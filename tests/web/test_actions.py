"""POST actions on DAGs, runs and task instances: each confirms first, then changes the database and is audited."""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.web.conftest import post as _post
from tests.web.webdata import CLUSTER_DAG, Seeded, make_run, seed_cluster

BASE = "/dags/example_task_groups"


def post(client: FlaskClient, url: str, data: dict | None = None) -> Any:
    """POST a form with the CSRF token of the logged-in session (a page render creates it)."""
    with client.session_transaction() as session:
        has_token = bool(session.get("_csrf"))
    if not has_token:
        client.get("/")
    return _post(client, url, data)


def q(text: str) -> str:
    return quote(text, safe="")


def run_path(run_id: str) -> str:
    return f"{BASE}/runs/{q(run_id)}"


def states(store: Store, dag_id: str, run_id: str) -> dict[str, str]:
    return {t.task_id: t.state for t in store.list_task_instances(store.get_run(dag_id, run_id).key)}


def last_audit(store: Store, event: str) -> dict:
    rows = store.list_audit(event=event, limit=1)
    assert rows, f"no {event!r} audit row"
    return {"owner": rows[0].owner, "run_id": rows[0].run_id, "task_id": rows[0].task_id,
            "extra": json.loads(rows[0].extra or "{}")}


# --- notes ----------------------------------------------------------------------------------------

def test_a_run_note_is_added_changed_and_removed_from_the_run_page(user_client: FlaskClient, web_store: Store,
                                                                   seeded: Seeded) -> None:
    run = seeded.success_run
    page = user_client.get(run_path(run.run_id)).get_data(as_text=True)
    assert 'id="run-note-form"' in page
    response = post(user_client, f"{run_path(run.run_id)}/note", {"note": "  rerun after the outage  "})
    assert response.status_code == 302
    assert web_store.get_run(run.dag_id, run.run_id).note == "rerun after the outage"
    assert last_audit(web_store, "set_note")["run_id"] == run.run_id
    assert "rerun after the outage" in user_client.get(run_path(run.run_id)).get_data(as_text=True)
    assert post(user_client, f"{run_path(run.run_id)}/note", {"note": ""}).status_code == 302
    assert web_store.get_run(run.dag_id, run.run_id).note is None
    response = post(user_client, f"{run_path(run.run_id)}/note", {"note": "n" * 1001})
    assert response.status_code == 400 and "at most 1000 characters" in response.get_data(as_text=True)


def test_a_task_note_is_set_from_the_task_instance_page(user_client: FlaskClient, web_store: Store,
                                                        seeded: Seeded) -> None:
    run = seeded.failed_run
    ti = web_store.list_task_instances(run.key)[0]
    path = f"{run_path(run.run_id)}/tasks/{q(ti.task_id)}"
    assert 'id="ti-note-form"' in user_client.get(path).get_data(as_text=True)
    assert post(user_client, f"{path}/note", {"note": "flaky source", "map_index": str(ti.map_index)}).status_code == 302
    assert web_store.get_task_instance(ti.key).note == "flaky source"
    assert "flaky source" in user_client.get(path).get_data(as_text=True)


def test_a_viewer_sees_notes_but_may_not_edit_them(viewer_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.success_run
    assert 'id="run-note-form"' not in viewer_client.get(run_path(run.run_id)).get_data(as_text=True)
    assert post(viewer_client, f"{run_path(run.run_id)}/note", {"note": "x"}).status_code == 403


# --- clear ----------------------------------------------------------------------------------------

def test_clearing_a_run_asks_first_and_changes_nothing(user_client: FlaskClient, web_store: Store,
                                                      seeded: Seeded) -> None:
    run = seeded.failed_run
    before = states(web_store, run.dag_id, run.run_id)
    response = post(user_client, f"{run_path(run.run_id)}/clear", {"only_failed": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="confirm-btn"' in html
    assert "web.fetch (failed)" in html and "merge (upstream_failed)" in html and "start (success)" not in html
    assert states(web_store, run.dag_id, run.run_id) == before


def test_clearing_only_failed_tasks_of_a_run_resets_them_and_requeues_the_run(user_client: FlaskClient,
                                                                              web_store: Store,
                                                                              seeded: Seeded) -> None:
    run = seeded.failed_run
    response = post(user_client, f"{run_path(run.run_id)}/clear", {"only_failed": "1", "confirmed": "1"})
    assert response.status_code == 302
    after = states(web_store, run.dag_id, run.run_id)
    assert after["web.fetch"] == after["merge"] == after["web.clean"] == "pending"
    assert after["start"] == "success"
    assert web_store.get_run(run.dag_id, run.run_id).state == "queued"
    audit = last_audit(web_store, "clear")
    assert audit["owner"] == "user" and audit["run_id"] == run.run_id and audit["extra"]["task_instances"] == 3


def test_clearing_a_task_with_downstream_clears_what_follows_it(user_client: FlaskClient, web_store: Store,
                                                               seeded: Seeded) -> None:
    run = seeded.success_run
    post(user_client, f"{run_path(run.run_id)}/tasks/crm.clean/clear", {"downstream": "1", "confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert after["crm.clean"] == after["merge"] == "pending"
    assert after["crm.fetch"] == after["start"] == after["web.clean"] == "success"


def test_clearing_a_task_with_upstream_clears_what_precedes_it(user_client: FlaskClient, web_store: Store,
                                                              seeded: Seeded) -> None:
    run = seeded.success_run
    post(user_client, f"{run_path(run.run_id)}/tasks/crm.clean/clear", {"upstream": "1", "confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert after["crm.clean"] == after["crm.fetch"] == after["start"] == "pending"
    assert after["merge"] == after["web.fetch"] == "success"


def test_clearing_a_task_group_clears_its_tasks(user_client: FlaskClient, web_store: Store,
                                                 seeded: Seeded) -> None:
    run = seeded.success_run
    post(user_client, f"{run_path(run.run_id)}/clear", {"task_id": "billing", "recursive": "1", "confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert after["billing.fetch"] == after["billing.clean"] == "pending"
    assert after["crm.fetch"] == "success"


# --- mark -------------------------------------------------------------------------------------------

def test_marking_a_task_instance_success_changes_only_it(user_client: FlaskClient, web_store: Store,
                                                          seeded: Seeded) -> None:
    run = seeded.failed_run
    post(user_client, f"{run_path(run.run_id)}/tasks/web.fetch/mark-success", {"confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert after["web.fetch"] == "success" and after["merge"] == "upstream_failed"
    assert last_audit(web_store, "mark_success")["task_id"] == "web.fetch"


def test_marking_a_run_failed_asks_about_exactly_the_task_instances_it_changes(user_client: FlaskClient,
                                                                               web_store: Store,
                                                                               seeded: Seeded) -> None:
    """Before: the confirmation listed the run's successful tasks too, which marking it failed leaves alone."""
    run = seeded.running_run
    html = post(user_client, f"{run_path(run.run_id)}/mark-failed").get_data(as_text=True)
    items = re.findall(r'<li class="mono">(.*?)</li>', html)
    post(user_client, f"{run_path(run.run_id)}/mark-failed", {"confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert "start (success)" not in items and after["start"] == "success"
    assert "crm.fetch (running → failed)" in items and after["crm.fetch"] == "failed"
    assert "merge (pending → skipped)" in items and after["merge"] == "skipped"
    assert items[0] == "the run (running → failed)"
    assert len(items) == 1 + sum(1 for state in after.values() if state != "success")


def test_marking_tasks_counts_only_the_task_instances_that_change(user_client: FlaskClient, web_store: Store,
                                                                  seeded: Seeded) -> None:
    """Before: 'Mark 6 task instance(s)' over a list of two, the others being success already."""
    run = seeded.failed_run
    html = post(user_client, f"{run_path(run.run_id)}/tasks/start/mark-success",
                {"downstream": "1"}).get_data(as_text=True)
    items = re.findall(r'<li class="mono">(.*?)</li>', html)
    assert sorted(items) == ["merge (upstream_failed)", "web.clean (upstream_failed)", "web.fetch (failed)"]
    assert "Mark 3 task instance(s)" in html


def test_the_upstream_and_downstream_boxes_apply_to_marking_as_to_clearing(user_client: FlaskClient,
                                                                            web_store: Store,
                                                                            seeded: Seeded) -> None:
    """Before: the boxes beside every button belonged to the Clear form only, so 'downstream' then
    'Mark success…' marked the one task."""
    run = seeded.failed_run
    page = user_client.get(f"{run_path(run.run_id)}/tasks/web.fetch").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="ti-actions-form".*?</form>', page, re.S)
    assert form and 'name="downstream"' in form.group(0) and 'name="upstream"' in form.group(0)
    for action in ("clear", "mark-success", "mark-failed", "run"):
        assert f'/tasks/web.fetch/{action}"' in form.group(0)
    post(user_client, f"{run_path(run.run_id)}/tasks/web.fetch/mark-success", {"downstream": "1", "confirmed": "1"})
    after = states(web_store, run.dag_id, run.run_id)
    assert after["web.fetch"] == after["web.clean"] == after["merge"] == "success"


def test_marking_a_running_run_failed_fails_it_and_stops_its_tasks(user_client: FlaskClient, web_store: Store,
                                                                    seeded: Seeded) -> None:
    run = seeded.running_run
    post(user_client, f"{run_path(run.run_id)}/mark-failed", {"confirmed": "1"})
    assert web_store.get_run(run.dag_id, run.run_id).state == "failed"
    after = states(web_store, run.dag_id, run.run_id)
    assert after["crm.fetch"] == "failed" and after["merge"] == "skipped" and after["start"] == "success"


def test_marking_a_failed_run_success_marks_every_task_and_the_run(user_client: FlaskClient, web_store: Store,
                                                                    seeded: Seeded) -> None:
    run = seeded.failed_run
    post(user_client, f"{run_path(run.run_id)}/mark-success", {"confirmed": "1"})
    assert web_store.get_run(run.dag_id, run.run_id).state == "success"
    assert set(states(web_store, run.dag_id, run.run_id).values()) == {"success"}


def test_marking_a_run_failed_stops_its_work_and_leaves_its_teardown_to_run(user_client: FlaskClient,
                                                                          web_store: Store) -> None:
    run = seed_cluster(web_store)
    path = f"/dags/{CLUSTER_DAG}/runs/{q(run.run_id)}/mark-failed"
    assert "teardown tasks whose setups ran still run" in post(user_client, path).get_data(as_text=True)
    page = post(user_client, path, {"confirmed": "1"})
    assert web_store.get_run(CLUSTER_DAG, run.run_id).state == "failed"
    assert states(web_store, CLUSTER_DAG, run.run_id) == {"create": "success", "work": "failed", "delete": "pending"}
    assert page.status_code == 302
    flashed = user_client.get(page.headers["Location"]).get_data(as_text=True)
    assert "Teardown task(s) delete still run to clean up." in flashed


def test_marking_a_run_success_marks_its_work_and_leaves_its_teardown_to_run(user_client: FlaskClient,
                                                                            web_store: Store) -> None:
    run = seed_cluster(web_store)
    post(user_client, f"/dags/{CLUSTER_DAG}/runs/{q(run.run_id)}/mark-success", {"confirmed": "1"})
    assert web_store.get_run(CLUSTER_DAG, run.run_id).state == "success"
    assert states(web_store, CLUSTER_DAG, run.run_id) == {"create": "success", "work": "success",
                                                          "delete": "pending"}


# --- force-run --------------------------------------------------------------------------------------

def test_force_run_names_the_dependencies_it_skips_before_it_acts(user_client: FlaskClient, web_store: Store,
                                                                   seeded: Seeded) -> None:
    run = seeded.running_run
    html = post(user_client, f"{run_path(run.run_id)}/tasks/merge/run").get_data(as_text=True)
    assert 'id="skipped-deps"' in html and "trigger rule all_success" in html
    assert states(web_store, run.dag_id, run.run_id)["merge"] == "pending"


def test_force_run_schedules_the_task_instance_ignoring_its_upstream(user_client: FlaskClient, web_store: Store,
                                                                     seeded: Seeded) -> None:
    run = seeded.running_run
    post(user_client, f"{run_path(run.run_id)}/tasks/merge/run", {"confirmed": "1"})
    assert states(web_store, run.dag_id, run.run_id)["merge"] == "scheduled"
    assert last_audit(web_store, "force_run")["extra"]["scheduled"] is True


def test_force_run_of_a_failed_task_clears_it_and_schedules_it(user_client: FlaskClient, web_store: Store,
                                                               seeded: Seeded) -> None:
    run = seeded.failed_run
    post(user_client, f"{run_path(run.run_id)}/tasks/web.fetch/run", {"confirmed": "1"})
    assert states(web_store, run.dag_id, run.run_id)["web.fetch"] == "scheduled"


# --- trigger ----------------------------------------------------------------------------------------

def test_the_trigger_form_creates_a_queued_manual_run_with_the_conf(user_client: FlaskClient, web_store: Store,
                                                                    seeded: Seeded) -> None:
    assert user_client.get(f"{BASE}/trigger").status_code == 200
    response = post(user_client, f"{BASE}/trigger", {"conf": '{"source": "crm"}', "run_id": "by_hand"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/runs/by_hand")
    run = web_store.get_run(seeded.dag_id, "by_hand")
    assert run.run_type == "manual" and run.state == "queued" and run.conf == {"source": "crm"}
    assert last_audit(web_store, "trigger")["extra"] == {"conf": {"source": "crm"}}


def test_the_trigger_form_says_what_a_manual_run_of_a_paused_dag_does(user_client: FlaskClient, web_store: Store,
                                                                       seeded: Seeded) -> None:
    """Before: nothing on the page or in the message said the DAG was paused (USERS.md promises it)."""
    assert "is paused" not in user_client.get(f"{BASE}/trigger").get_data(as_text=True)
    web_store.set_paused(seeded.dag_id, True)
    page = user_client.get(f"{BASE}/trigger").get_data(as_text=True)
    assert 'id="paused-note"' in page and "is paused" in page and "still runs" in page
    response = post(user_client, f"{BASE}/trigger", {"run_id": "while_paused"})
    flashed = user_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is paused" in flashed and "still runs" in flashed


def test_the_trigger_form_says_a_paused_dags_run_waits_when_manual_runs_do_not_run_paused(
        web_settings: Any, web_store: Store, users: dict[str, str], seeded: Seeded) -> None:
    from flowctl.web.app import create_app
    from tests.web.conftest import Clock, login

    app = create_app(web_settings.replace(scheduler__run_manual_when_paused=False), web_store, Clock())
    client = app.test_client()
    login(client, "user", users["user"])
    web_store.set_paused(seeded.dag_id, True)
    page = client.get(f"{BASE}/trigger").get_data(as_text=True)
    assert "is paused" in page and "waits, queued, until it is unpaused" in page


def test_the_trigger_form_remembers_the_last_confs(user_client: FlaskClient, seeded: Seeded) -> None:
    post(user_client, f"{BASE}/trigger", {"conf": '{"batch": 41}', "run_id": "r1"})
    html = user_client.get(f"{BASE}/trigger").get_data(as_text=True)
    assert 'id="recent-confs"' in html and "&#34;batch&#34;: 41" in html or "&quot;batch&quot;: 41" in html


def test_a_bad_conf_is_refused_with_the_reason(user_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    response = post(user_client, f"{BASE}/trigger", {"conf": "[1, 2", "run_id": "bad"})
    assert response.status_code == 400 and "not valid JSON" in response.get_data(as_text=True)
    assert all(r.run_id != "bad" for r in web_store.list_runs(seeded.dag_id))


def test_a_note_longer_than_airflows_limit_is_refused_by_the_trigger_form(user_client: FlaskClient,
                                                                          web_store: Store, seeded: Seeded) -> None:
    """Before: the form triggered a run with a 3,000-character note, which setNote would refuse."""
    response = post(user_client, f"{BASE}/trigger", {"run_id": "long_note", "note": "n" * 1001})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "note must be at most 1000 characters" in body
    assert 'id="trigger-error"' in body and 'name="run_id"' in body and 'value="long_note"' in body
    assert all(r.run_id != "long_note" for r in web_store.list_runs(seeded.dag_id))
    assert post(user_client, f"{BASE}/trigger", {"run_id": "short_note", "note": "n" * 1000}).status_code == 302
    assert web_store.get_run(seeded.dag_id, "short_note").note == "n" * 1000


def test_the_trigger_form_is_generated_from_the_dag_params(user_client: FlaskClient, web_store: Store) -> None:
    from tests.web.webdata import REPO, sync_example

    (dag_id,) = sync_example(web_store, REPO / "dags_example" / "example_params.py")
    data = web_store.latest_serialized_dag(dag_id).data
    html = user_client.get(f"/dags/{dag_id}/trigger").get_data(as_text=True)
    for name in data["params"]:
        assert f'name="param.{name}"' in html


# --- kill runs, backfill, delete history ------------------------------------------------------------

def test_kill_runs_fails_every_running_and_queued_run(user_client: FlaskClient, web_store: Store,
                                                      seeded: Seeded) -> None:
    queued = make_run(web_store, seeded.dag_id, 3)
    html = post(user_client, f"{BASE}/kill-runs").get_data(as_text=True)
    assert seeded.running_run.run_id in html and queued.run_id in html
    post(user_client, f"{BASE}/kill-runs", {"confirmed": "1"})
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "failed"
    assert web_store.get_run(seeded.dag_id, queued.run_id).state == "failed"
    assert web_store.get_run(seeded.dag_id, seeded.success_run.run_id).state == "success"
    assert sorted(last_audit(web_store, "kill_runs")["extra"]["runs"]) == sorted(
        [seeded.running_run.run_id, queued.run_id])


def test_kill_runs_can_pick_runs_by_id(user_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    queued = make_run(web_store, seeded.dag_id, 3)
    post(user_client, f"{BASE}/kill-runs", {"run_id": queued.run_id, "confirmed": "1"})
    assert web_store.get_run(seeded.dag_id, queued.run_id).state == "failed"
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "running"


def test_backfill_lists_the_dates_then_creates_the_runs(user_client: FlaskClient, web_store: Store,
                                                        seeded: Seeded) -> None:
    form = {"start": "2024-01-10", "end": "2024-01-12", "policy": "keep"}
    html = post(user_client, f"{BASE}/backfill", form).get_data(as_text=True)
    assert "Backfill 3 date(s)" in html and "backfill__2024-01-10T06:00:00+00:00: create" in html
    assert post(user_client, f"{BASE}/backfill", {**form, "confirmed": "1"}).status_code == 302
    backfills = [r for r in web_store.list_runs(seeded.dag_id) if r.run_type == "backfill"]
    assert len(backfills) == 3 and {r.state for r in backfills} == {"queued"}
    assert last_audit(web_store, "backfill")["extra"]["created"] == 3


def test_backfill_refuses_an_end_before_the_start(user_client: FlaskClient, seeded: Seeded) -> None:
    response = post(user_client, f"{BASE}/backfill", {"start": "2024-02-10", "end": "2024-01-12"})
    assert response.status_code == 400


def test_backfill_refuses_a_range_of_more_runs_than_one_backfill_makes(user_client: FlaskClient, web_store: Store,
                                                                       seeded: Seeded) -> None:
    response = post(user_client, f"{BASE}/backfill", {"start": "1900-01-01", "end": "9000-01-01"})
    assert response.status_code == 400 and "more than 10000 runs" in response.get_data(as_text=True)
    assert [r for r in web_store.list_runs(seeded.dag_id) if r.run_type == "backfill"] == []


def test_delete_history_removes_the_runs_but_keeps_the_audit_log(user_client: FlaskClient, web_store: Store,
                                                                  seeded: Seeded) -> None:
    assert "3 run(s)" in post(user_client, f"{BASE}/delete-history").get_data(as_text=True)
    post(user_client, f"{BASE}/delete-history", {"confirmed": "1"})
    assert web_store.list_runs(seeded.dag_id) == []
    assert last_audit(web_store, "delete_history")["owner"] == "user"


# --- who may act ------------------------------------------------------------------------------------

def test_a_viewer_cannot_act_on_a_dag(viewer_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    for url in (f"{run_path(run.run_id)}/clear", f"{run_path(run.run_id)}/mark-success",
                f"{run_path(run.run_id)}/tasks/web.fetch/run", f"{BASE}/trigger", f"{BASE}/kill-runs",
                f"{BASE}/backfill", f"{BASE}/delete-history"):
        assert post(viewer_client, url, {"confirmed": "1"}).status_code == 403, url
    assert viewer_client.get(f"{BASE}/trigger").status_code == 403
    assert states(web_store, run.dag_id, run.run_id)["web.fetch"] == "failed"


def test_an_action_without_the_csrf_token_is_refused(user_client: FlaskClient, web_store: Store,
                                                     seeded: Seeded) -> None:
    run = seeded.failed_run
    response = user_client.post(f"{run_path(run.run_id)}/clear", data={"confirmed": "1"})
    assert response.status_code == 400
    assert states(web_store, run.dag_id, run.run_id)["web.fetch"] == "failed"


@pytest.mark.parametrize("target", ["//evil.example.com/x", "/\\evil.example.com", "/\t/evil.example.com",
                                    "/\n/evil.example.com", "/ /evil.example.com", "https://evil.example.com"])
def test_the_next_field_never_redirects_to_another_site(user_client: FlaskClient, seeded: Seeded,
                                                        target: str) -> None:
    # A browser drops tabs and newlines in a URL and reads a backslash as a slash: "/\t/x" is "//x".
    run = seeded.failed_run
    response = post(user_client, f"{run_path(run.run_id)}/clear", {"confirmed": "1", "next": target})
    assert response.status_code == 302 and response.headers["Location"].endswith(run_path(run.run_id))
    page = post(user_client, f"{run_path(run.run_id)}/clear", {"next": target}).get_data(as_text=True)
    [cancel] = re.findall(r'href="([^"]*)" id="cancel-btn"', page)  # the confirmation page's Cancel link
    assert "evil.example.com" not in cancel


def test_html_in_a_conf_value_shows_as_text_on_the_run_page(user_client: FlaskClient, web_store: Store,
                                                             seeded: Seeded) -> None:
    post(user_client, f"{BASE}/trigger", {"conf": '{"x": "<script>alert(1)</script>"}', "run_id": "xss"})
    html = user_client.get(run_path("xss")).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_what_the_ui_changes_wakes_a_sleeping_scheduler_at_once(user_client: FlaskClient, web_store: Store,
                                                                 seeded: Seeded) -> None:
    """A trigger, clear, mark or backfill from the UI must not wait for the scheduler's next timer."""
    listener = web_store.scheduler_listener()
    try:
        listener.drain()
        post(user_client, f"{BASE}/trigger", {"conf": "{}", "run_id": "woken"})
        assert listener.drain() == 1 and listener.reasons == ["web dag_actions.trigger"]
        user_client.get(f"{BASE}/trigger")  # a page read wakes nobody
        assert listener.drain() == 0
    finally:
        listener.close()
