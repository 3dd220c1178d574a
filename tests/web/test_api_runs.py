"""The REST calls scripts make as they do against Airflow 2: basic auth, trigger a run, poll it, mark, clear,
note and delete it."""
from __future__ import annotations


import pytest
from flask.testing import FlaskClient

from flowctl.core.errors import DagRunNotFound
from flowctl.db.store import Store
from tests.web.conftest import Clock, basic
from tests.web.webdata import CLUSTER_DAG, Seeded, seed_cluster



def test_basic_auth_reads_the_api_as_curl_u_does(client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    response = client.get("/api/v1/dags", headers=basic("viewer", users["viewer"]))
    assert response.status_code == 200 and response.get_json()["total_entries"] == 1
    assert "flowctl_session" not in response.headers.get("Set-Cookie", "")  # no session for a script


def test_a_wrong_basic_password_is_401_with_a_challenge_and_audited(client: FlaskClient, users: dict[str, str],
                                                                     web_store: Store) -> None:
    response = client.get("/api/v1/dags", headers=basic("viewer", "nope"))
    assert response.status_code == 401 and response.get_json()["status"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert [(a.event, a.owner) for a in web_store.list_audit()] == [("login_failed", "viewer")]
    assert client.get("/api/v1/dags", headers={"Authorization": "Basic !!!"}).status_code == 401


def test_basic_auth_is_refused_after_too_many_failures(client: FlaskClient, users: dict[str, str]) -> None:
    for _ in range(5):  # [webserver] login_max_failures
        assert client.get("/api/v1/dags", headers=basic("viewer", "nope")).status_code == 401
    assert client.get("/api/v1/dags", headers=basic("viewer", users["viewer"])).status_code == 429


def test_basic_auth_does_not_log_into_the_pages(client: FlaskClient, users: dict[str, str]) -> None:
    assert client.get("/", headers=basic("viewer", users["viewer"])).status_code == 302


def test_a_basic_auth_post_must_be_json_so_no_other_site_can_forge_it(
        client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    """A browser resends cached basic credentials on a cross-site form post; a form cannot send JSON."""
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns"
    response = client.post(url, data={"dag_run_id": "forged"}, headers=basic("user", users["user"]))
    assert response.status_code == 415
    assert client.get(f"{url}/forged", headers=basic("user", users["user"])).status_code == 404


def test_trigger_a_run_poll_it_and_list_its_task_instances(client: FlaskClient, users: dict[str, str],
                                                           web_store: Store, seeded: Seeded) -> None:
    auth = basic("user", users["user"])
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns"
    response = client.post(url, json={"dag_run_id": "from_script", "conf": {"day": "2024-05-01"},
                                      "logical_date": "2024-05-01T00:00:00+00:00", "note": "nightly export"},
                           headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["dag_run_id"], body["state"], body["conf"], body["note"]) == (
        "from_script", "queued", {"day": "2024-05-01"}, "nightly export")
    assert body["logical_date"].startswith("2024-05-01T00:00:00") and body["execution_date"] == body["logical_date"]
    run = web_store.get_run(seeded.dag_id, "from_script")
    assert run.run_type == "manual" and run.conf == {"day": "2024-05-01"}
    assert client.get(f"{url}/from_script", headers=auth).get_json()["state"] == "queued"
    tis = client.get(f"{url}/from_script/taskInstances", headers=auth).get_json()
    assert tis["total_entries"] == len(seeded.task_ids)
    assert {t["task_id"] for t in tis["task_instances"]} == set(seeded.task_ids)
    assert {t["state"] for t in tis["task_instances"]} == {"pending"}
    assert [(a.event, a.source) for a in web_store.list_audit() if a.event == "trigger"] == [("trigger", "api")]


def test_trigger_errors_are_json_4xx(client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    auth = basic("user", users["user"])
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns"
    assert client.post(url, json={"dag_run_id": "twice"}, headers=auth).status_code == 200
    again = client.post(url, json={"dag_run_id": "twice"}, headers=auth)
    assert again.status_code == 409 and "twice" in again.get_json()["detail"]
    assert client.post(url, json={"conf": [1, 2]}, headers=auth).status_code == 400
    assert client.post(url, json={"logical_date": "tomorrow"}, headers=auth).status_code == 400
    assert client.post(url, json={"unknown_field": 1}, headers=auth).status_code == 400
    assert client.post("/api/v1/dags/nope/dagRuns", json={}, headers=auth).status_code == 404
    assert client.get(f"{url}/never", headers=auth).status_code == 404
    viewer = client.post(url, json={}, headers=basic("viewer", users["viewer"]))
    assert viewer.status_code == 403


def test_a_trigger_with_a_note_longer_than_airflows_limit_is_a_json_400(client: FlaskClient, users: dict[str, str],
                                                                        web_store: Store, seeded: Seeded) -> None:
    """Before: POST …/dagRuns stored a 5,000-character note, though setNote refuses more than 1,000."""
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns"
    auth = basic("user", users["user"])
    response = client.post(url, json={"dag_run_id": "long_note", "note": "n" * 5000}, headers=auth)
    assert response.status_code == 400
    assert response.get_json() == {"status": 400, "title": "Bad Request",
                                   "detail": "note must be at most 1000 characters"}
    assert all(r.run_id != "long_note" for r in web_store.list_runs(seeded.dag_id))
    kept = client.post(url, json={"dag_run_id": "short_note", "note": "n" * 1000}, headers=auth)
    assert kept.status_code == 200 and kept.get_json()["note"] == "n" * 1000


def test_a_bearer_token_triggers_too(client: FlaskClient, users: dict[str, str], web_store: Store,
                                     seeded: Seeded, clock: Clock) -> None:
    token = web_store.create_api_token("user", clock.now)
    response = client.post(f"/api/v1/dags/{seeded.dag_id}/dagRuns", json={},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["run_type"] == "manual"


def test_patch_a_run_failed_kills_what_is_unfinished(client: FlaskClient, users: dict[str, str],
                                                     web_store: Store, seeded: Seeded) -> None:
    run = seeded.running_run
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}"
    response = client.patch(url, json={"state": "failed"}, headers=basic("user", users["user"]))
    assert response.status_code == 200 and response.get_json()["state"] == "failed"
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "failed"
    states = {t.task_id: t.state for t in web_store.list_task_instances(run.key)}
    assert states["start"] == "success" and states["crm.fetch"] == "failed" and states["merge"] == "skipped"
    assert [(a.event, a.source) for a in web_store.list_audit() if a.event == "mark_failed"] == [
        ("mark_failed", "api")]


def test_patch_a_run_failed_leaves_its_teardown_to_run_and_answers_the_chosen_state(
        client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    run = seed_cluster(web_store)
    url = f"/api/v1/dags/{CLUSTER_DAG}/dagRuns/{run.run_id}"
    for state, work in (("failed", "failed"), ("success", "success")):
        response = client.patch(url, json={"state": state}, headers=basic("user", users["user"]))
        assert response.status_code == 200 and response.get_json()["state"] == state
        assert {t.task_id: t.state for t in web_store.list_task_instances(run.key)} == {
            "create": "success", "work": work, "delete": "pending"}


def test_patch_a_run_success_marks_its_tasks_and_queued_requeues(client: FlaskClient, users: dict[str, str],
                                                                 web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}"
    auth = basic("user", users["user"])
    assert client.patch(url, json={"state": "success"}, headers=auth).get_json()["state"] == "success"
    assert {t.state for t in web_store.list_task_instances(run.key)} == {"success"}
    assert client.patch(url, json={"state": "queued"}, headers=auth).get_json()["state"] == "queued"
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "queued"


@pytest.mark.parametrize("body", [{"state": "running"}, {"state": None}, {}, {"state": "failed", "x": 1}, [1]])
def test_patch_a_run_refuses_bad_bodies(client: FlaskClient, users: dict[str, str], web_store: Store,
                                        seeded: Seeded, body: object) -> None:
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{seeded.running_run.run_id}"
    response = client.patch(url, json=body, headers=basic("user", users["user"]))
    assert response.status_code == 400 and response.is_json
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "running"


def test_run_writes_need_the_edit_permission(client: FlaskClient, users: dict[str, str], web_store: Store,
                                             seeded: Seeded) -> None:
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{seeded.failed_run.run_id}"
    auth = basic("viewer", users["viewer"])
    assert client.patch(url, json={"state": "success"}, headers=auth).status_code == 403
    assert client.delete(url, headers=auth).status_code == 403
    assert client.post(f"{url}/clear", json={"dry_run": False}, headers=auth).status_code == 403
    assert client.patch(f"{url}/setNote", json={"note": "x"}, headers=auth).status_code == 403
    assert web_store.get_run(seeded.dag_id, seeded.failed_run.run_id).state == "failed"


def test_delete_a_run_removes_it_and_its_task_instances(client: FlaskClient, users: dict[str, str],
                                                        web_store: Store, seeded: Seeded) -> None:
    run = seeded.success_run
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}"
    auth = basic("op", users["op"])
    assert client.delete(url, headers=auth).status_code == 204
    with pytest.raises(DagRunNotFound):
        web_store.get_run(seeded.dag_id, run.run_id)
    assert web_store.list_task_instances(run.key) == []
    assert len(web_store.list_runs(seeded.dag_id)) == 2
    again = client.delete(url, headers=auth)
    assert again.status_code == 404 and again.is_json


def test_deleting_a_run_needs_the_op_role_as_in_the_ui(client: FlaskClient, users: dict[str, str],
                                                        web_store: Store, seeded: Seeded) -> None:
    """Before: a User, whom the run page refuses (403), deleted the run through the API (204)."""
    run = seeded.success_run
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}"
    response = client.delete(url, headers=basic("user", users["user"]))
    assert response.status_code == 403 and response.get_json()["status"] == 403
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "success"
    assert len(web_store.list_task_instances(run.key)) == len(seeded.task_ids)
    assert [a.event for a in web_store.list_audit(dag_id=seeded.dag_id)] == []


def test_clear_a_run_lists_first_then_clears_and_queues_it(client: FlaskClient, users: dict[str, str],
                                                           web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run.run_id}/clear"
    auth = basic("user", users["user"])
    dry = client.post(url, json={}, headers=auth).get_json()  # dry_run is Airflow's default
    assert dry["total_entries"] == len(seeded.task_ids)
    assert {t["task_id"] for t in dry["task_instances"]} == set(seeded.task_ids)
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "failed"
    done = client.post(url, json={"dry_run": False}, headers=auth)
    assert done.status_code == 200 and done.get_json()["state"] == "queued"
    assert {t.state for t in web_store.list_task_instances(run.key)} == {"pending"}
    assert client.post(url, json={"dry_run": "no"}, headers=auth).status_code == 400


def test_set_a_runs_note(client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns/{seeded.failed_run.run_id}/setNote"
    auth = basic("user", users["user"])
    response = client.patch(url, json={"note": "upstream API was down"}, headers=auth)
    assert response.status_code == 200 and response.get_json()["note"] == "upstream API was down"
    assert web_store.get_run(seeded.dag_id, seeded.failed_run.run_id).note == "upstream API was down"
    assert client.patch(url, json={"note": 5}, headers=auth).status_code == 400
    assert client.patch(url, json={}, headers=auth).status_code == 400
    missing = f"/api/v1/dags/{seeded.dag_id}/dagRuns/never/setNote"
    assert client.patch(missing, json={"note": "x"}, headers=auth).status_code == 404


def test_a_conf_nested_thousands_deep_or_holding_nan_is_a_400_not_a_500(client: FlaskClient, users: dict[str, str],
                                                                         seeded: Seeded) -> None:
    headers = {**basic("op", users["op"]), "Content-Type": "application/json"}
    deep = '{"conf": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    for body in (deep, '{"conf": {"a": NaN}}', '{"conf": {"a": 1e999}}'):
        response = client.post(f"/api/v1/dags/{seeded.dag_id}/dagRuns", data=body, headers=headers)
        assert response.status_code == 400 and response.is_json, (body[:30], response.status_code)


def test_a_page_number_past_any_history_shows_an_empty_page_not_a_500(admin_client: FlaskClient,
                                                                      seeded: Seeded) -> None:
    for path in ("/browse/runs", "/audit", "/browse/sla-misses", "/browse/task-instances"):
        assert admin_client.get(f"{path}?page=999999999999999999999").status_code == 200, path
