"""The home page: DAG rows with last run and task counts, filters, paging, pause, import errors; /health; the DAG API."""
from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.web.health import scheduler_health
from flowctl.web.home import dag_query_from
from tests.db.samples import serialized
from tests.web.conftest import Clock, post
from tests.web.webdata import T0, Seeded


def _many_dags(store: Store, n: int) -> None:
    for i in range(n):
        store.sync_dag(serialized(f"dag_{i:03d}", tags=["even" if i % 2 == 0 else "odd"]), f"/dags/d{i}.py", T0)


def test_home_lists_a_dag_with_owner_schedule_last_run_state_and_task_counts(admin_client: FlaskClient,
                                                                              seeded: Seeded) -> None:
    body = admin_client.get("/").get_data(as_text=True)
    row = body[body.index(f'data-dag-id="{seeded.dag_id}"'):]
    row = row[:row.index("</tr>")]
    assert "<td>flowctl</td>" in row  # the default owner
    assert "0 6 * * *" in row
    assert "state-running" in row  # the latest run is the running one
    counts = dict((state, int(n)) for state, n in re.findall(r'count state-(\w+)" title="\d+ \w+"\s*href="[^"]*">(\d+)<', row))
    assert counts == {"success": 1, "running": 1, "queued": 1, "pending": 5}


def test_home_pages_through_many_dags_in_sql(admin_client: FlaskClient, web_store: Store) -> None:
    _many_dags(web_store, 60)
    first = admin_client.get("/?page_size=25").get_data(as_text=True)
    third = admin_client.get("/?page_size=25&page=3").get_data(as_text=True)
    assert "dag_000" in first and "dag_025" not in first
    assert "dag_050" in third and "dag_059" in third and "dag_049" not in third
    assert "51–60 of 60" in third


def test_home_filters_by_search_tag_status_and_last_run_state(admin_client: FlaskClient, web_store: Store,
                                                              seeded: Seeded) -> None:
    _many_dags(web_store, 6)
    web_store.set_paused("dag_001", True)
    def ids(url: str) -> set[str]:
        return set(re.findall(r'data-dag-id="([^"]+)"', admin_client.get(url).get_data(as_text=True)))
    assert ids("/?search=DAG_00") == {f"dag_00{i}" for i in range(6)}
    assert ids("/?tag=odd") == {"dag_001", "dag_003", "dag_005"}
    assert ids("/?status=paused") == {"dag_001"}
    assert ids("/?last_run_state=running") == {seeded.dag_id}
    assert ids("/?search=no-such-thing") == set()


def test_the_query_string_becomes_a_dag_query_with_unknown_values_ignored() -> None:
    q = dag_query_from({"status": "bogus", "last_run_state": "exploded", "search": "  etl "}, frozenset(), 0, 25)
    assert (q.status, q.last_run_state, q.search) == ("all", "", "etl")


def test_the_pause_toggle_pauses_and_unpauses_and_is_audited(user_client: FlaskClient, seeded: Seeded,
                                                             web_store: Store) -> None:
    assert post(user_client, f"/dags/{seeded.dag_id}/pause", {"is_paused": "true"}).status_code == 302
    assert web_store.get_dag(seeded.dag_id).is_paused is True
    post(user_client, f"/dags/{seeded.dag_id}/pause", {"is_paused": "false"})
    assert web_store.get_dag(seeded.dag_id).is_paused is False
    events = [(a.event, a.owner, a.source) for a in web_store.list_audit(dag_id=seeded.dag_id)]
    assert events == [("unpause", "user", "ui"), ("pause", "user", "ui")]


def test_an_import_error_shows_a_banner_linking_to_its_traceback(admin_client: FlaskClient, web_store: Store) -> None:
    web_store.record_import_errors(["/dags/broken.py"], {"/dags/broken.py": "Traceback...\nNameError: <oops>"}, T0)
    home = admin_client.get("/").get_data(as_text=True)
    assert 'id="import-error-banner"' in home and "/import-errors" in home
    page = admin_client.get("/import-errors").get_data(as_text=True)
    assert "/dags/broken.py" in page and "NameError: &lt;oops&gt;" in page


def test_the_import_error_of_a_file_with_a_dag_hidden_from_a_viewer_is_not_on_their_pages(
        viewer_client: FlaskClient, op_client: FlaskClient, web_store: Store) -> None:
    web_store.sync_dag(serialized("secret", access_control={"Op": ["can_read"]}), "/dags/secret.py", T0)
    web_store.record_import_errors(["/dags/secret.py"], {"/dags/secret.py": "RuntimeError: hunter2"}, T0)
    for page in ("/", "/import-errors"):
        assert "hunter2" not in viewer_client.get(page).get_data(as_text=True)
    assert 'id="import-error-banner"' not in viewer_client.get("/").get_data(as_text=True)
    assert "hunter2" in op_client.get("/import-errors").get_data(as_text=True)


def test_health_reports_the_database_and_the_scheduler_heartbeat_age(client: FlaskClient, web_store: Store,
                                                                     clock: Clock) -> None:
    assert client.get("/health").get_json()["scheduler"]["status"] == "unhealthy"
    job = web_store.create_job("scheduler", "host", 1, clock.now - timedelta(seconds=4))
    body = client.get("/health").get_json()
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"]["status"] == "healthy"
    assert body["scheduler"]["heartbeat_age_seconds"] == 4.0
    clock.advance(seconds=60)
    assert client.get("/health").get_json()["scheduler"]["status"] == "unhealthy"
    assert job.id > 0


def test_scheduler_health_is_a_pure_decision_on_the_heartbeat_age() -> None:
    assert scheduler_health(T0, T0 + timedelta(seconds=30), 30)["status"] == "healthy"
    assert scheduler_health(T0, T0 + timedelta(seconds=31), 30)["status"] == "unhealthy"
    assert scheduler_health(None, T0, 30)["latest_scheduler_heartbeat"] is None


def test_the_dags_api_pages_and_reports_bad_parameters_as_json(admin_client: FlaskClient, web_store: Store,
                                                                seeded: Seeded) -> None:
    _many_dags(web_store, 5)
    body = admin_client.get("/api/v1/dags?limit=2&offset=1").get_json()
    assert body["total_entries"] == 6
    assert [d["dag_id"] for d in body["dags"]] == ["dag_001", "dag_002"]
    bad = admin_client.get("/api/v1/dags?limit=lots")
    assert bad.status_code == 400 and "limit" in bad.get_json()["detail"]
    assert admin_client.get("/api/v1/dags/nope/dagRuns").status_code == 404


def test_the_api_pauses_a_dag_with_patch(user_client: FlaskClient, viewer_client: FlaskClient, seeded: Seeded,
                                         web_store: Store) -> None:
    from tests.web.conftest import csrf_of

    url = f"/api/v1/dags/{seeded.dag_id}"
    headers = {"X-CSRFToken": csrf_of(user_client)}
    assert user_client.patch(url, json={"is_paused": True}, headers=headers).get_json()["is_paused"] is True
    assert user_client.patch(url, json={"is_paused": "yes"}, headers=headers).status_code == 400
    viewer = viewer_client.patch(url, json={"is_paused": False}, headers={"X-CSRFToken": csrf_of(viewer_client)})
    assert viewer.status_code == 403
    assert web_store.get_dag(seeded.dag_id).is_paused is True


def test_an_api_token_authenticates_without_a_session_or_csrf(client: FlaskClient, users: dict[str, str],
                                                               web_store: Store, seeded: Seeded, clock: Clock) -> None:
    token = web_store.create_api_token("user", clock.now)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/dags", headers=headers).get_json()["total_entries"] == 1
    response = client.patch(f"/api/v1/dags/{seeded.dag_id}", json={"is_paused": True}, headers=headers)
    assert response.status_code == 200
    assert client.get("/api/v1/dags", headers={"Authorization": "Bearer wrong"}).status_code == 401
