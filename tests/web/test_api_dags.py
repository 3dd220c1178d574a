"""The DAG endpoints of the REST API as Airflow 2 scripts call them: one DAG, its details and tasks,
the filtered list, pausing many at once, deleting; the run list's filters; every mistake a JSON 4xx."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from flowctl.core.errors import DagNotFound
from flowctl.db.store import Store
from tests.db.samples import serialized
from tests.web.conftest import BOTH_DATABASES, store_on
from tests.web.test_api_runs import basic
from tests.web.webdata import T0, Seeded


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """These endpoints' queries run on both databases."""
    return store_on(request)


def many_dags(store: Store, n: int) -> None:
    for i in range(n):
        store.sync_dag(serialized(f"dag_{i:03d}", tags=["even" if i % 2 == 0 else "odd"]), f"/dags/d{i}.py", T0)


def ids(response: object) -> list[str]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    return [d["dag_id"] for d in body["dags"]]


def test_get_one_dag_has_airflows_shape(client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    response = client.get(f"/api/v1/dags/{seeded.dag_id}", headers=basic("viewer", users["viewer"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["dag_id"] == seeded.dag_id and body["owners"] == ["flowctl"]
    assert body["schedule_interval"] == {"__type": "CronExpression", "value": "0 6 * * *"}
    assert body["timetable_description"] == "0 6 * * *" and body["tags"] == [{"name": "example"}]
    assert {"max_active_runs", "max_active_tasks", "is_paused", "next_dagrun", "fileloc"} <= set(body)
    missing = client.get("/api/v1/dags/nope", headers=basic("viewer", users["viewer"]))
    assert missing.status_code == 404 and missing.get_json()["status"] == 404


def test_details_and_tasks_come_from_the_serialized_dag(client: FlaskClient, users: dict[str, str],
                                                         seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    details = client.get(f"/api/v1/dags/{seeded.dag_id}/details", headers=auth).get_json()
    assert details["catchup"] is False and details["start_date"].startswith("2024-01-01")
    assert details["timezone"] == "UTC" and details["owners"] == ["flowctl"]
    tasks = client.get(f"/api/v1/dags/{seeded.dag_id}/tasks", headers=auth).get_json()
    assert tasks["total_entries"] == len(seeded.task_ids)
    assert [t["task_id"] for t in tasks["tasks"]] == sorted(seeded.task_ids)
    desc = client.get(f"/api/v1/dags/{seeded.dag_id}/tasks?order_by=-task_id", headers=auth).get_json()
    assert [t["task_id"] for t in desc["tasks"]] == sorted(seeded.task_ids, reverse=True)
    merge = client.get(f"/api/v1/dags/{seeded.dag_id}/tasks/merge", headers=auth).get_json()
    assert merge["class_ref"]["class_name"] == "BashOperator" and merge["downstream_task_ids"] == []
    assert merge["retry_delay"] == {"__type": "TimeDelta", "days": 0, "seconds": 300, "microseconds": 0}
    assert client.get(f"/api/v1/dags/{seeded.dag_id}/tasks/nope", headers=auth).status_code == 404
    assert client.get(f"/api/v1/dags/{seeded.dag_id}/tasks?order_by=color", headers=auth).status_code == 400


def test_the_list_filters_by_pattern_tags_paused_and_orders(admin_client: FlaskClient, web_store: Store) -> None:
    many_dags(web_store, 6)
    web_store.set_paused("dag_001", True)
    assert ids(admin_client.get("/api/v1/dags?dag_id_pattern=AG_00")) == [f"dag_{i:03d}" for i in range(6)]
    assert ids(admin_client.get("/api/v1/dags?dag_id_pattern=_004")) == ["dag_004"]
    assert ids(admin_client.get("/api/v1/dags?tags=odd")) == ["dag_001", "dag_003", "dag_005"]
    assert len(ids(admin_client.get("/api/v1/dags?tags=odd&tags=even"))) == 6
    assert ids(admin_client.get("/api/v1/dags?paused=true")) == ["dag_001"]
    assert "dag_001" not in ids(admin_client.get("/api/v1/dags?paused=false"))
    assert ids(admin_client.get("/api/v1/dags?order_by=-dag_id&limit=2")) == ["dag_005", "dag_004"]
    assert ids(admin_client.get("/api/v1/dags?search=dag_002&status=active")) == ["dag_002"]  # the UI's own
    web_store.deactivate_dags_missing_from("/dags/d5.py", [])
    assert "dag_005" not in ids(admin_client.get("/api/v1/dags"))
    assert "dag_005" in ids(admin_client.get("/api/v1/dags?only_active=false"))


@pytest.mark.parametrize("query", ["dag_id_patern=x", "order_by=colour", "paused=maybe", "only_active=2",
                                   "status=sleeping", "last_run_state=great", "limit=0", "paused=true&status=all"])
def test_a_bad_list_parameter_is_a_json_400(admin_client: FlaskClient, query: str) -> None:
    response = admin_client.get(f"/api/v1/dags?{query}")
    assert response.status_code == 400 and response.is_json and response.get_json()["detail"]


def test_patch_many_pauses_only_the_matching_dags(client: FlaskClient, users: dict[str, str],
                                                  web_store: Store) -> None:
    many_dags(web_store, 4)
    auth = basic("user", users["user"])
    response = client.patch("/api/v1/dags?dag_id_pattern=_00&tags=odd&update_mask=is_paused",
                            json={"is_paused": True}, headers=auth)
    assert response.status_code == 200
    assert [d["dag_id"] for d in response.get_json()["dags"]] == ["dag_001", "dag_003"]
    assert {d.dag_id for d in web_store.list_dags() if d.is_paused} == {"dag_001", "dag_003"}
    assert [(a.event, a.source) for a in web_store.list_audit()].count(("pause", "api")) == 2
    everything = client.patch("/api/v1/dags?dag_id_pattern=~", json={"is_paused": True}, headers=auth)
    assert everything.get_json()["total_entries"] == 4


@pytest.mark.parametrize("query, body, status", [
    ("", {"is_paused": True}, 400),  # no dag_id_pattern: never "every DAG" by accident
    ("dag_id_patern=dag_001", {"is_paused": True}, 400),
    ("dag_id_pattern=dag&update_mask=owners", {"is_paused": True}, 400),
    ("dag_id_pattern=dag", {"is_paused": "yes"}, 400),
    ("dag_id_pattern=dag", {"is_paused": True, "owners": []}, 400),
])
def test_patch_many_refuses_bad_input_and_changes_nothing(client: FlaskClient, users: dict[str, str],
                                                          web_store: Store, query: str, body: dict[str, object],
                                                          status: int) -> None:
    many_dags(web_store, 2)
    response = client.patch(f"/api/v1/dags?{query}", json=body, headers=basic("user", users["user"]))
    assert response.status_code == status and response.is_json
    assert not any(d.is_paused for d in web_store.list_dags())


def test_a_viewer_may_not_pause_or_delete(client: FlaskClient, users: dict[str, str], web_store: Store,
                                          seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    assert client.patch("/api/v1/dags?dag_id_pattern=~", json={"is_paused": True}, headers=auth).status_code == 403
    assert client.patch(f"/api/v1/dags/{seeded.dag_id}", json={"is_paused": True}, headers=auth).status_code == 403
    assert client.delete(f"/api/v1/dags/{seeded.dag_id}", headers=auth).status_code == 403
    assert web_store.get_dag(seeded.dag_id).is_paused is False


def test_delete_a_dag_removes_its_rows_and_history(client: FlaskClient, users: dict[str, str], web_store: Store,
                                                   seeded: Seeded) -> None:
    auth = basic("user", users["user"])
    response = client.delete(f"/api/v1/dags/{seeded.dag_id}", headers=auth)
    assert response.status_code == 204
    with pytest.raises(DagNotFound):
        web_store.get_dag(seeded.dag_id)
    assert web_store.list_runs(seeded.dag_id) == []
    assert [(a.event, a.source) for a in web_store.list_audit() if a.event == "delete_history"] == [
        ("delete_history", "api")]
    assert client.delete(f"/api/v1/dags/{seeded.dag_id}", headers=auth).status_code == 404


def run_ids(response: object) -> list[str]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert response.status_code == 200, body  # type: ignore[attr-defined]
    return [r["dag_run_id"] for r in body["dag_runs"]]


def test_the_run_list_filters_by_state_and_dates(admin_client: FlaskClient, seeded: Seeded) -> None:
    url = f"/api/v1/dags/{seeded.dag_id}/dagRuns"
    success, failed, running = seeded.success_run, seeded.failed_run, seeded.running_run
    assert run_ids(admin_client.get(f"{url}?state=failed")) == [failed.run_id]
    assert set(run_ids(admin_client.get(f"{url}?state=failed&state=success"))) == {failed.run_id, success.run_id}
    since = failed.logical_date.isoformat().replace("+00:00", "Z")
    assert set(run_ids(admin_client.get(f"{url}?execution_date_gte={since}"))) == {failed.run_id, running.run_id}
    assert run_ids(admin_client.get(f"{url}?execution_date_lte=2024-02-25")) == [success.run_id]
    assert run_ids(admin_client.get(f"{url}?end_date_gte=2024-01-01")) == [failed.run_id, success.run_id]
    assert run_ids(admin_client.get(f"{url}?order_by=execution_date")) == [success.run_id, failed.run_id,
                                                                           running.run_id]
    for bad in ("execution_date_gte=notadate", "state=great", "order_by=colour", "stat=failed"):
        response = admin_client.get(f"{url}?{bad}")
        assert response.status_code == 400 and response.is_json, bad


def test_runs_of_every_visible_dag_by_get_and_by_post(client: FlaskClient, users: dict[str, str],
                                                      web_store: Store, seeded: Seeded) -> None:
    from tests.web.webdata import make_run

    many_dags(web_store, 1)
    other = make_run(web_store, "dag_000", 3)
    auth = basic("viewer", users["viewer"])
    assert set(run_ids(client.get("/api/v1/dags/~/dagRuns", headers=auth))) == {
        seeded.success_run.run_id, seeded.failed_run.run_id, seeded.running_run.run_id, other.run_id}
    listed = client.post("/api/v1/dags/~/dagRuns/list", headers=auth,
                         json={"dag_ids": ["dag_000"], "states": ["queued"], "page_limit": 10})
    assert [(r["dag_id"], r["dag_run_id"]) for r in listed.get_json()["dag_runs"]] == [("dag_000", other.run_id)]
    by_date = client.post("/api/v1/dags/~/dagRuns/list", headers=auth,
                          json={"start_date_gte": "2024-01-01", "order_by": "-execution_date"})
    assert run_ids(by_date) == [seeded.running_run.run_id, seeded.failed_run.run_id, seeded.success_run.run_id]
    for body in ({"states": ["great"]}, {"dag_ids": "dag_000"}, {"page_limit": "10"}, {"colour": 1},
                 {"execution_date_gte": "soon"}):
        response = client.post("/api/v1/dags/~/dagRuns/list", json=body, headers=auth)
        assert response.status_code == 400 and response.is_json, body


# --- import errors --------------------------------------------------------------------------------------

def test_import_errors_are_listed_with_ids_and_read_one_by_one(client: FlaskClient, users: dict[str, str],
                                                               web_store: Store) -> None:
    from datetime import timedelta

    web_store.record_import_errors(["/dags/b.py", "/dags/a.py"],
                                   {"/dags/b.py": "Traceback...\nSyntaxError: b", "/dags/a.py": "NameError: a"}, T0)
    auth = basic("viewer", users["viewer"])
    listed = client.get("/api/v1/importErrors", headers=auth).get_json()
    assert listed["total_entries"] == 2
    assert all(set(e) == {"import_error_id", "timestamp", "filename", "stack_trace"} for e in listed["import_errors"])
    ids = [e["import_error_id"] for e in listed["import_errors"]]
    assert ids == sorted(ids) and all(isinstance(i, int) for i in ids)  # Airflow's default order
    by_file = {e["filename"]: e for e in listed["import_errors"]}
    one = client.get(f"/api/v1/importErrors/{by_file['/dags/b.py']['import_error_id']}", headers=auth)
    assert one.status_code == 200 and one.get_json() == by_file["/dags/b.py"]
    assert one.get_json()["stack_trace"] == "Traceback...\nSyntaxError: b"

    later = T0 + timedelta(minutes=1)  # b.py is parsed again, still broken: same id, new traceback
    web_store.record_import_errors(["/dags/b.py"], {"/dags/b.py": "SyntaxError: still"}, later)
    again = client.get(f"/api/v1/importErrors/{by_file['/dags/b.py']['import_error_id']}", headers=auth).get_json()
    assert again["stack_trace"] == "SyntaxError: still" and again["timestamp"] == later.isoformat()


def test_import_errors_are_paged_and_sorted(client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    web_store.record_import_errors([], {f"/dags/{c}.py": c for c in "cab"}, T0)
    auth = basic("viewer", users["viewer"])
    page = client.get("/api/v1/importErrors?order_by=-filename&limit=2&offset=1", headers=auth).get_json()
    assert [e["filename"] for e in page["import_errors"]] == ["/dags/b.py", "/dags/a.py"]
    assert page["total_entries"] == 3
    for bad in ("order_by=stack_trace", "limit=0", "offset=-1", "colour=red"):
        response = client.get(f"/api/v1/importErrors?{bad}", headers=auth)
        assert response.status_code == 400 and response.get_json()["status"] == 400, bad


@pytest.mark.parametrize("path", ["1", "0", "-1", "abc", "1.5", str(2**31), str(10**30)])
def test_an_import_error_that_does_not_exist_is_a_json_404(client: FlaskClient, users: dict[str, str],
                                                          path: str) -> None:
    response = client.get(f"/api/v1/importErrors/{path}", headers=basic("viewer", users["viewer"]))
    assert response.status_code == 404
    assert response.get_json()["status"] == 404 and response.get_json()["detail"]


def test_the_import_error_of_a_fixed_file_is_gone_from_the_api(client: FlaskClient, users: dict[str, str],
                                                          web_store: Store) -> None:
    web_store.record_import_errors(["/dags/x.py"], {"/dags/x.py": "SyntaxError"}, T0)
    [error] = web_store.list_import_errors()
    web_store.record_import_errors(["/dags/x.py"], {}, T0)
    response = client.get(f"/api/v1/importErrors/{error.id}", headers=basic("viewer", users["viewer"]))
    assert response.status_code == 404 and f"import error {error.id} not found" in response.get_json()["detail"]
    assert client.get("/api/v1/importErrors").status_code == 401
