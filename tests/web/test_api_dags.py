"""The DAG endpoints of the REST API as Airflow 2 scripts call them: one DAG, its details and tasks,
the filtered list, pausing many at once, deleting; the run list's filters; every mistake a JSON 4xx."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from flowctl.core.errors import DagNotFound
from flowctl.db.store import Store
from tests.db.samples import serialized
from tests.web.conftest import BOTH_DATABASES, store_on
from tests.web.test_api_runs import basic
from tests.web.webdata import T0, Seeded, sync_example


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


def test_details_show_params_dumped_display_names_and_orientation_as_airflows(
        client: FlaskClient, users: dict[str, str], web_store: Store, tmp_path: Path) -> None:
    (tmp_path / "shown.py").write_text(
        "from datetime import datetime\nfrom flowctl import DAG\nfrom flowctl.models.param import Param\n"
        "from flowctl.operators.empty import EmptyOperator\n"
        "with DAG('shown', schedule=None, start_date=datetime(2024, 1, 1), dag_display_name='Shown DAG',\n"
        "         orientation='TB', params={'n': Param(1, type='integer', description='how many'), 'plain': 'x',\n"
        "                                   'unset': Param(type=['null', 'string'])}):\n"
        "    EmptyOperator(task_id='named', task_display_name='Named task')\n    EmptyOperator(task_id='plain')\n")
    sync_example(web_store, tmp_path / "shown.py", T0)
    auth = basic("viewer", users["viewer"])
    details = client.get("/api/v1/dags/shown/details", headers=auth).get_json()
    assert details["params"] == {
        "n": {"__class": "flowctl.models.param.Param", "value": 1, "description": "how many",
              "schema": {"type": "integer"}},
        "plain": {"__class": "flowctl.models.param.Param", "value": "x", "description": None, "schema": {}},
        "unset": {"__class": "flowctl.models.param.Param", "value": None, "description": None,
                  "schema": {"type": ["null", "string"]}}}
    assert (details["dag_display_name"], details["orientation"]) == ("Shown DAG", "TB")
    assert client.get("/api/v1/dags/shown", headers=auth).get_json()["dag_display_name"] == "Shown DAG"
    listed = client.get("/api/v1/dags?dag_id_pattern=shown", headers=auth).get_json()["dags"]
    assert [d["dag_display_name"] for d in listed] == ["Shown DAG"]
    tasks = client.get("/api/v1/dags/shown/tasks", headers=auth).get_json()["tasks"]
    assert {t["task_id"]: t["task_display_name"] for t in tasks} == {"named": "Named task", "plain": "plain"}


def test_a_dag_without_display_names_or_orientation_shows_its_ids_and_lr(
        client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    details = client.get(f"/api/v1/dags/{seeded.dag_id}/details", headers=auth).get_json()
    assert (details["dag_display_name"], details["orientation"]) == (seeded.dag_id, "LR")
    merge = client.get(f"/api/v1/dags/{seeded.dag_id}/tasks/merge", headers=auth).get_json()
    assert merge["task_display_name"] == "merge"


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
                                   "status=sleeping", "last_run_state=great", "limit=-1", "limit=ten",
                                   "paused=true&status=all"])
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
    assert run_ids(admin_client.get(f"{url}?end_date_gte=2024-01-01")) == [success.run_id, failed.run_id]
    assert run_ids(admin_client.get(f"{url}?order_by=execution_date")) == [success.run_id, failed.run_id,
                                                                           running.run_id]
    for bad in ("execution_date_gte=notadate", "state=great", "order_by=colour", "stat=failed"):
        response = admin_client.get(f"{url}?{bad}")
        assert response.status_code == 400 and response.is_json, bad


def test_run_lists_without_order_by_are_in_id_order_as_airflows(client: FlaskClient, users: dict[str, str],
                                                                 web_store: Store, seeded: Seeded) -> None:
    from tests.web.webdata import make_run

    earliest = make_run(web_store, seeded.dag_id, -20)  # created last, the oldest logical date
    auth = basic("viewer", users["viewer"])
    in_id_order = [seeded.success_run.run_id, seeded.failed_run.run_id, seeded.running_run.run_id, earliest.run_id]
    for dag_id in (seeded.dag_id, "~"):
        assert run_ids(client.get(f"/api/v1/dags/{dag_id}/dagRuns", headers=auth)) == in_id_order
        assert run_ids(client.get(f"/api/v1/dags/{dag_id}/dagRuns?limit=2&offset=2", headers=auth)) == in_id_order[2:]
    assert run_ids(client.post("/api/v1/dags/~/dagRuns/list", json={}, headers=auth)) == in_id_order
    paged = client.post("/api/v1/dags/~/dagRuns/list", json={"page_offset": 1, "page_limit": 2}, headers=auth)
    assert run_ids(paged) == in_id_order[1:3]
    newest_first = client.get(f"/api/v1/dags/{seeded.dag_id}/dagRuns?order_by=-execution_date", headers=auth)
    assert run_ids(newest_first) == in_id_order[2::-1] + [earliest.run_id]


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
    for bad in ("order_by=stack_trace", "limit=-1", "offset=-1", "colour=red"):
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


# --- Airflow's SQL LIKE patterns, page limits, the DAG's effective limits and dates ---------------------

def like_dags(store: Store) -> None:
    for dag_id in ("walk_sleep", "walkXsleep", "walk_then_sleep", "Run_Fast", "ru5n"):
        store.sync_dag(serialized(dag_id), f"/dags/{dag_id}.py", T0)


@pytest.mark.parametrize("pattern, found", [
    ("walk%sleep", ["walkXsleep", "walk_sleep", "walk_then_sleep"]),
    ("walk_sleep", ["walkXsleep", "walk_sleep"]),  # _ is any one character, as in SQL
    ("walk\\_sleep", ["walk_sleep"]),  # a backslash escapes it (PostgreSQL's LIKE, on SQLite too)
    ("WALK%SLEEP", ["walkXsleep", "walk_sleep", "walk_then_sleep"]),  # ILIKE: case-insensitive
    ("run_", ["Run_Fast"]), ("r_n", ["Run_Fast"]), ("r__n", ["ru5n"]),
    ("%", ["Run_Fast", "ru5n", "walkXsleep", "walk_sleep", "walk_then_sleep"]),
    ("then", ["walk_then_sleep"]), ("nope%", []),
])
def test_dag_id_pattern_is_an_sql_like_pattern_as_airflows(admin_client: FlaskClient, web_store: Store,
                                                           pattern: str, found: list[str]) -> None:
    from urllib.parse import quote

    like_dags(web_store)
    assert sorted(ids(admin_client.get(f"/api/v1/dags?dag_id_pattern={quote(pattern)}"))) == sorted(found)


def test_patch_many_with_a_percent_pattern_pauses_every_dag(client: FlaskClient, users: dict[str, str],
                                                            web_store: Store) -> None:
    like_dags(web_store)
    auth = basic("user", users["user"])
    some = client.patch("/api/v1/dags?dag_id_pattern=walk%25sleep", json={"is_paused": True}, headers=auth)
    assert sorted(d["dag_id"] for d in some.get_json()["dags"]) == ["walkXsleep", "walk_sleep", "walk_then_sleep"]
    every = client.patch("/api/v1/dags?dag_id_pattern=%25", json={"is_paused": True}, headers=auth)
    assert every.status_code == 200 and every.get_json()["total_entries"] == 5
    assert all(d.is_paused for d in web_store.list_dags())
    tilde = client.patch("/api/v1/dags?dag_id_pattern=~", json={"is_paused": False}, headers=auth)
    assert tilde.get_json()["total_entries"] == 5 and not any(d.is_paused for d in web_store.list_dags())


def test_a_limit_above_the_maximum_is_capped_and_zero_means_the_default(admin_client: FlaskClient, app: object,
                                                                        client: FlaskClient, users: dict[str, str],
                                                                        web_store: Store) -> None:
    from flowctl.web.api_params import paging

    many_dags(web_store, 3)
    for limit in ("1001", "99999999999999999999"):
        assert len(ids(admin_client.get(f"/api/v1/dags?limit={limit}"))) == 3
        assert admin_client.get(f"/api/v1/dags/~/dagRuns?limit={limit}").status_code == 200
        assert admin_client.get(f"/api/v1/importErrors?limit={limit}").status_code == 200
    assert len(ids(admin_client.get("/api/v1/dags?limit=0"))) == 3  # Airflow: 0 is the default page size
    posted = client.post("/api/v1/dags/~/dagRuns/list", json={"page_limit": 10**20},
                         headers=basic("admin", users["admin"]))
    assert posted.status_code == 200
    flask_app = app  # type: ignore[assignment]
    for query, expected in (("limit=5000", (0, 1000)), ("limit=0&offset=2", (2, 100)), ("", (0, 100))):
        with flask_app.test_request_context(f"/api/v1/dags?{query}"):  # type: ignore[attr-defined]
            assert paging() == expected, query


def test_a_dag_parsed_in_another_default_timezone_shows_its_zone_and_dates_with_their_offset(
        client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    """``[core] default_timezone = Europe/Amsterdam``: the API says so and gives each date with its offset
    (the same instant as Airflow's UTC form), and a naive default_args date is read in that zone too."""
    from datetime import datetime

    from flowctl.core.dag import DAG
    from flowctl.core.timezones import use_default_timezone
    from flowctl.dag_processing.serialization import serialize_dag
    from flowctl.operators.empty import EmptyOperator

    use_default_timezone("Europe/Amsterdam")  # as the parser child had it
    with DAG("ams", schedule="0 6 * * *", default_args={"start_date": datetime(2024, 1, 1)}) as dag:
        EmptyOperator(task_id="t")
    use_default_timezone("utc")  # the web server's own zone plays no part
    web_store.sync_dag(serialize_dag(dag), "/dags/ams.py", T0)
    auth = basic("viewer", users["viewer"])
    details = client.get("/api/v1/dags/ams/details", headers=auth).get_json()
    assert details["timezone"] == "Europe/Amsterdam" and details["start_date"] == "2024-01-01T00:00:00+01:00"
    (task,) = client.get("/api/v1/dags/ams/tasks", headers=auth).get_json()["tasks"]
    assert datetime.fromisoformat(task["start_date"]) == datetime.fromisoformat("2023-12-31T23:00:00+00:00")


def test_max_active_runs_and_tasks_fall_back_to_the_configured_defaults(admin_client: FlaskClient,
                                                                        web_store: Store, seeded: Seeded) -> None:
    one = admin_client.get(f"/api/v1/dags/{seeded.dag_id}").get_json()
    assert (one["max_active_runs"], one["max_active_tasks"]) == (16, 16)  # [core] max_active_*_per_dag
    details = admin_client.get(f"/api/v1/dags/{seeded.dag_id}/details").get_json()
    assert (details["max_active_runs"], details["max_active_tasks"], details["concurrency"]) == (16, 16, 16)
    listed = admin_client.get("/api/v1/dags").get_json()["dags"][0]
    assert (listed["max_active_runs"], listed["max_active_tasks"]) == (16, 16)
    web_store.sync_dag(serialized("limited", max_active_runs=2, max_active_tasks=5), "/dags/limited.py", T0)
    limited = admin_client.get("/api/v1/dags/limited/details").get_json()
    assert (limited["max_active_runs"], limited["max_active_tasks"], limited["concurrency"]) == (2, 5, 5)


def test_a_tasks_start_date_is_its_effective_one(admin_client: FlaskClient, web_store: Store,
                                                 seeded: Seeded) -> None:
    tasks = admin_client.get(f"/api/v1/dags/{seeded.dag_id}/tasks").get_json()["tasks"]
    assert {t["start_date"] for t in tasks} == {"2024-01-01T00:00:00+00:00"}  # the DAG's
    assert {t["end_date"] for t in tasks} == {None}
    defaults = {"start_date": {"__type": "datetime", "__var": "2024-02-01T00:00:00"}}
    web_store.sync_dag(serialized("by_default", start_date="2024-01-01T00:00:00+00:00", default_args=defaults,
                                  tasks=("a",)), "/dags/by_default.py", T0)
    task = admin_client.get("/api/v1/dags/by_default/tasks/a").get_json()
    assert task["start_date"] == "2024-02-01T00:00:00+00:00"  # default_args win over the DAG's, as in Airflow
    body = serialized("own", start_date="2024-01-01T00:00:00+00:00", tasks=("a",))
    body["tasks"][0]["start_date"] = "2024-03-01T00:00:00+00:00"
    web_store.sync_dag(body, "/dags/own.py", T0)
    assert admin_client.get("/api/v1/dags/own/tasks/a").get_json()["start_date"] == "2024-03-01T00:00:00+00:00"


def test_import_errors_of_files_holding_a_dag_hidden_from_the_user_are_not_shown_to_them(
        client: FlaskClient, users: dict[str, str], web_store: Store) -> None:
    web_store.sync_dag(serialized("secret", access_control={"Op": ["can_read"]}), "/dags/secret.py", T0)
    web_store.sync_dag(serialized("open"), "/dags/open.py", T0)
    web_store.record_import_errors(["/dags/secret.py", "/dags/open.py", "/dags/new.py"],
                                   {"/dags/secret.py": "RuntimeError: hunter2", "/dags/open.py": "SyntaxError",
                                    "/dags/new.py": "NameError"}, T0)
    by_file = {e.filename: e.id for e in web_store.list_import_errors()}

    def files(role: str) -> list[str]:
        body = client.get("/api/v1/importErrors", headers=basic(role, users[role])).get_json()
        assert body["total_entries"] == len(body["import_errors"])
        return sorted(e["filename"] for e in body["import_errors"])

    # Airflow 2: a user who may not read every DAG sees the errors of files whose DAGs they may read;
    # a file that never defined a DAG only shows to those who read every DAG.
    assert files("viewer") == files("user") == ["/dags/open.py"]
    assert files("op") == files("admin") == ["/dags/new.py", "/dags/open.py", "/dags/secret.py"]
    hidden = client.get(f"/api/v1/importErrors/{by_file['/dags/secret.py']}", headers=basic("viewer", users["viewer"]))
    assert hidden.status_code == 404 and "hunter2" not in hidden.get_data(as_text=True)
    assert client.get(f"/api/v1/importErrors/{by_file['/dags/open.py']}",
                      headers=basic("viewer", users["viewer"])).status_code == 200
