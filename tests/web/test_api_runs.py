"""The REST calls scripts make as they do against Airflow 2: basic auth, trigger a run, poll it, its task instances."""
from __future__ import annotations

import base64

from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.web.conftest import Clock
from tests.web.webdata import Seeded


def basic(name: str, password: str) -> dict[str, str]:
    """``curl -u name:password``'s header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


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


def test_a_bearer_token_triggers_too(client: FlaskClient, users: dict[str, str], web_store: Store,
                                     seeded: Seeded, clock: Clock) -> None:
    token = web_store.create_api_token("user", clock.now)
    response = client.post(f"/api/v1/dags/{seeded.dag_id}/dagRuns", json={},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["run_type"] == "manual"
