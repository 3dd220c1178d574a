"""The task-instance endpoints of the REST API as Airflow 2 scripts call them: read one or many, mark,
clear, set state in bulk, logs per try and XComs; every mistake a JSON 4xx, viewers read only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask.testing import FlaskClient

from flowctl.core.deferral import encode_json
from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.task_runner.logs import log_path
from tests.web.conftest import BOTH_DATABASES, Clock, store_on
from tests.web.test_api_runs import basic
from tests.web.webdata import HIDDEN_DAG, Seeded, seed_hidden


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """These endpoints' queries run on both databases."""
    return store_on(request)


def tis_url(seeded: Seeded, run_id: str) -> str:
    return f"/api/v1/dags/{seeded.dag_id}/dagRuns/{run_id}/taskInstances"


def test_one_task_instance_has_airflows_fields(client: FlaskClient, users: dict[str, str], seeded: Seeded) -> None:
    run = seeded.failed_run
    response = client.get(f"{tis_url(seeded, run.run_id)}/web.fetch", headers=basic("viewer", users["viewer"]))
    assert response.status_code == 200
    ti = response.get_json()
    assert (ti["task_id"], ti["state"], ti["try_number"], ti["map_index"]) == ("web.fetch", "failed", 1, -1)
    assert ti["execution_date"] == run.logical_date.isoformat() and ti["hostname"] == "worker-1"
    assert (ti["executor_config"], ti["sla_miss"], ti["trigger"], ti["triggerer_job"]) == ({}, None, None, None)
    assert {"pid", "unixname", "rendered_fields", "queued_by_job_id", "queued_when", "note"} <= set(ti)
    for missing in ("/nope", "/web.fetch/0"):
        answer = client.get(tis_url(seeded, run.run_id) + missing, headers=basic("viewer", users["viewer"]))
        assert answer.status_code == 404 and answer.is_json


def test_lists_filter_by_run_state_and_across_dags(client: FlaskClient, users: dict[str, str],
                                                   seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    run = seeded.failed_run
    one_run = client.get(tis_url(seeded, run.run_id), headers=auth).get_json()
    assert [t["task_id"] for t in one_run["task_instances"]] == sorted(seeded.task_ids)
    failed = client.get(f"{tis_url(seeded, run.run_id)}?state=failed&state=upstream_failed", headers=auth)
    assert sorted(t["task_id"] for t in failed.get_json()["task_instances"]) == ["merge", "web.clean", "web.fetch"]
    everywhere = client.get("/api/v1/dags/~/dagRuns/~/taskInstances?state=running", headers=auth).get_json()
    assert [(t["dag_run_id"], t["task_id"]) for t in everywhere["task_instances"]] == [
        (seeded.running_run.run_id, "crm.fetch")]
    assert everywhere["task_instances"][0]["execution_date"] == seeded.running_run.logical_date.isoformat()
    posted = client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", headers=auth,
                         json={"dag_run_ids": [run.run_id], "state": ["success"], "task_ids": ["start", "merge"]})
    assert [t["task_id"] for t in posted.get_json()["task_instances"]] == ["start"]
    early = client.get("/api/v1/dags/~/dagRuns/~/taskInstances?execution_date_lte=2024-02-25&state=success",
                       headers=auth).get_json()
    assert {t["dag_run_id"] for t in early["task_instances"]} == {seeded.success_run.run_id}
    for bad in ("state=great", "order_by=colour", "start_date_gte=never", "duration_gte=long", "pools=x"):
        answer = client.get(f"/api/v1/dags/~/dagRuns/~/taskInstances?{bad}", headers=auth)
        assert answer.status_code == 400 and answer.is_json, bad
    mapped = client.get(f"{tis_url(seeded, run.run_id)}/merge/listMapped", headers=auth).get_json()
    assert mapped == {"task_instances": [], "total_entries": 0}  # merge is not mapped
    bad_post = client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", json={"state": "failed"}, headers=auth)
    assert bad_post.status_code == 400


def test_patch_marks_one_task_instance_after_a_dry_run(client: FlaskClient, users: dict[str, str],
                                                       web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = f"{tis_url(seeded, run.run_id)}/web.fetch"
    key = TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")
    auth = basic("user", users["user"])
    dry = client.patch(url, json={"new_state": "success"}, headers=auth)
    assert dry.status_code == 200 and dry.get_json()["task_id"] == "web.fetch"
    assert web_store.get_task_instance(key).state == "failed"
    assert client.patch(url, json={"new_state": "success", "dry_run": False}, headers=auth).status_code == 200
    assert web_store.get_task_instance(key).state == "success"
    for body in ({"new_state": "running", "dry_run": False}, {"dry_run": False}, {"new_state": "failed", "x": 1}):
        assert client.patch(url, json=body, headers=auth).status_code == 400, body
    viewer = client.patch(url, json={"new_state": "failed", "dry_run": False}, headers=basic("viewer", users["viewer"]))
    assert viewer.status_code == 403 and web_store.get_task_instance(key).state == "success"


def test_clear_task_instances_takes_the_failed_ones_by_default(client: FlaskClient, users: dict[str, str],
                                                               web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = f"/api/v1/dags/{seeded.dag_id}/clearTaskInstances"
    auth = basic("user", users["user"])
    dry = client.post(url, json={"dag_run_id": run.run_id}, headers=auth).get_json()
    assert sorted(t["task_id"] for t in dry["task_instances"]) == ["merge", "web.clean", "web.fetch"]
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "failed"
    response = client.post(url, json={"dag_run_id": run.run_id, "dry_run": False, "task_ids": ["web.fetch"],
                                      "include_downstream": True}, headers=auth)
    assert sorted(t["task_id"] for t in response.get_json()["task_instances"]) == ["merge", "web.clean", "web.fetch"]
    states = {t.task_id: t.state for t in web_store.list_task_instances(run.key)}
    assert states["web.fetch"] == states["merge"] == "pending" and states["start"] == "success"
    assert web_store.get_run(seeded.dag_id, run.run_id).state == "queued"
    assert [(a.event, a.source) for a in web_store.list_audit() if a.event == "clear"] == [("clear", "api")]


@pytest.mark.parametrize("body", [{"dag_run_id": 5}, {"task_ids": "web.fetch"}, {"only_failed": "yes"},
                                  {"start_date": "soon"}, {"reset_dag_runs": False}, {"colour": 1}])
def test_clear_refuses_bad_bodies(client: FlaskClient, users: dict[str, str], seeded: Seeded,
                                  body: dict[str, object]) -> None:
    response = client.post(f"/api/v1/dags/{seeded.dag_id}/clearTaskInstances", json={**body, "dry_run": False},
                           headers=basic("user", users["user"]))
    assert response.status_code == 400 and response.is_json


def test_update_state_marks_a_task_and_its_downstream(client: FlaskClient, users: dict[str, str],
                                                      web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    url = f"/api/v1/dags/{seeded.dag_id}/updateTaskInstancesState"
    auth = basic("user", users["user"])
    body = {"dag_run_id": run.run_id, "task_id": "web.fetch", "include_downstream": True, "new_state": "success"}
    dry = client.post(url, json=body, headers=auth).get_json()
    assert sorted(t["task_id"] for t in dry["task_instances"]) == ["merge", "web.clean", "web.fetch"]
    assert web_store.get_task_instance(TaskInstanceKey(seeded.dag_id, run.run_id, "merge")).state == "upstream_failed"
    assert client.post(url, json={**body, "dry_run": False}, headers=auth).status_code == 200
    assert {t.state for t in web_store.list_task_instances(run.key)} == {"success"}
    assert client.post(url, json={"task_id": "merge", "new_state": "success"}, headers=auth).status_code == 400
    assert client.post(url, json={**body, "new_state": "queued"}, headers=auth).status_code == 400
    assert client.post(url, json=body, headers=basic("viewer", users["viewer"])).status_code == 403



@pytest.mark.parametrize("body", ['{"duration_gte": true}', '{"duration_lte": false}', '{"duration_gte": "5"}',
                                  '{"duration_lte": [1]}', '{"duration_gte": NaN}', '{"duration_lte": 1e999}',
                                  '{"duration_gte": 1' + "0" * 400 + '}'])
def test_a_duration_filter_in_a_body_must_be_a_finite_json_number(client: FlaskClient, users: dict[str, str],
                                                                 seeded: Seeded, body: str) -> None:
    """Before: true was taken as 1 second, "5" as 5, NaN and Infinity passed to the query, and an
    integer too large for a float was a 500 (OverflowError)."""
    answer = client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", data=body,
                         content_type="application/json", headers=basic("viewer", users["viewer"]))
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "duration_" in answer.get_json()["detail"]


@pytest.mark.parametrize("value", ["%EF%BC%91", "1_0", "nan", "inf", "1e999", "0x10", "true"])
def test_a_duration_filter_in_a_query_must_be_a_finite_number_in_ascii(client: FlaskClient, users: dict[str, str],
                                                                      seeded: Seeded, value: str) -> None:
    answer = client.get(f"/api/v1/dags/~/dagRuns/~/taskInstances?duration_gte={value}",
                        headers=basic("viewer", users["viewer"]))
    assert answer.status_code == 400 and "duration_gte" in answer.get_json()["detail"], value


def test_duration_filters_take_whole_and_decimal_seconds(client: FlaskClient, users: dict[str, str],
                                                         seeded: Seeded) -> None:
    auth, url = basic("viewer", users["viewer"]), "/api/v1/dags/~/dagRuns/~/taskInstances"
    # every finished try lasted 19 s (webdata.drive)
    within = client.post(f"{url}/list", json={"duration_gte": 19, "duration_lte": 19.5}, headers=auth).get_json()
    above = client.post(f"{url}/list", json={"duration_gte": 19.5}, headers=auth).get_json()
    assert within["total_entries"] > 0 and above["total_entries"] == 0
    assert client.get(f"{url}?duration_gte=18.5&duration_lte=1.9e1", headers=auth).get_json()["total_entries"] == \
        within["total_entries"]

def test_logs_of_a_try_as_text_or_json_with_a_continuation_token(client: FlaskClient, users: dict[str, str],
                                                                 web_settings: Settings, seeded: Seeded) -> None:
    run = seeded.failed_run
    key = TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")
    path = log_path(web_settings.base_log_folder, key, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("fetching\npassword=***\n")
    url = f"{tis_url(seeded, run.run_id)}/web.fetch/logs/1"
    auth = basic("viewer", users["viewer"])
    text = client.get(url, headers=auth)
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert text.get_data(as_text=True) == "fetching\npassword=***\n"
    body = client.get(url, headers={**auth, "Accept": "application/json"}).get_json()
    assert body["content"] == "fetching\npassword=***\n"
    with path.open("a") as handle:
        handle.write("retrying\n")
    more = client.get(f"{url}?token={body['continuation_token']}", headers={**auth, "Accept": "application/json"})
    assert more.get_json()["content"] == "retrying\n"
    assert client.get(f"{url}?full_content=true", headers=auth).get_data(as_text=True).endswith("retrying\n")
    for bad, status in (("/logs/2", 404), ("/logs/1?token=abc", 400), ("/logs/1?colour=1", 400)):
        answer = client.get(f"{tis_url(seeded, run.run_id)}/web.fetch{bad}", headers=auth)
        assert answer.status_code == status and answer.is_json, bad



def test_a_log_token_past_the_logs_end_reads_nothing_and_one_no_file_can_reach_is_a_400(
        client: FlaskClient, users: dict[str, str], web_settings: Settings, seeded: Seeded) -> None:
    """As Airflow's: a token it did not give is a 400, and from past the end there is nothing to read
    (the next token is the end). Before: a 500 (a seek past 2**63) and "\uff11" (a full-width 1) read as 1."""
    run = seeded.failed_run
    path = log_path(web_settings.base_log_folder, TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch"), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("fetching\n")
    url = f"{tis_url(seeded, run.run_id)}/web.fetch/logs/1"
    auth = {**basic("viewer", users["viewer"]), "Accept": "application/json"}
    for token in ("%EF%BC%91", "%D9%A1", "99999999999999999999999", str(2**63), "-1", "+1", "1_0", "%201"):
        answer = client.get(f"{url}?token={token}", headers=auth)
        assert answer.status_code == 400 and set(answer.get_json()) == {"status", "title", "detail"}, token
    for token in ("9", "1000", str(2**63 - 1)):
        body = client.get(f"{url}?token={token}", headers=auth).get_json()
        assert body == {"content": "", "continuation_token": "9"}, token
    assert client.get(f"{url}?token={2**63 - 1}&full_content=true", headers=auth).get_json()["content"] == ""

def test_xcom_entries_without_values_and_one_with_its_value(client: FlaskClient, users: dict[str, str],
                                                           web_store: Store, seeded: Seeded, clock: Clock) -> None:
    run = seeded.success_run
    key = TaskInstanceKey(seeded.dag_id, run.run_id, "crm.fetch")
    web_store.xcom_push(key, "return_value", {"rows": 3}, clock.now)
    web_store.xcom_push(key, "path", "/tmp/crm.csv", clock.now)
    url = f"{tis_url(seeded, run.run_id)}/crm.fetch/xcomEntries"
    auth = basic("viewer", users["viewer"])
    listed = client.get(url, headers=auth).get_json()
    assert listed["total_entries"] == 2 and sorted(x["key"] for x in listed["xcom_entries"]) == ["path", "return_value"]
    assert "value" not in listed["xcom_entries"][0]
    assert client.get(f"{url}?xcom_key=path", headers=auth).get_json()["total_entries"] == 1
    one = client.get(f"{url}/return_value", headers=auth).get_json()
    assert one["value"] == "{'rows': 3}" and one["execution_date"] == run.logical_date.isoformat()
    assert client.get(f"{url}/nope", headers=auth).status_code == 404
    assert client.get(f"{tis_url(seeded, run.run_id)}/nope/xcomEntries", headers=auth).status_code == 404
    assert client.get(f"{url}?map_index=x", headers=auth).status_code == 400


def test_xcom_entries_list_across_dags_runs_and_tasks_with_a_tilde_hiding_dags_the_user_may_not_see(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded, clock: Clock) -> None:
    failed, running, dag_id = seeded.failed_run, seeded.running_run, seeded.dag_id
    web_store.xcom_push(TaskInstanceKey(dag_id, failed.run_id, "crm.fetch"), "return_value", 1, clock.now)
    web_store.xcom_push(TaskInstanceKey(dag_id, failed.run_id, "billing.fetch"), "return_value", 2, clock.now)
    web_store.xcom_push(TaskInstanceKey(dag_id, running.run_id, "crm.fetch"), "path", "/x", clock.now)
    secret = seed_hidden(web_store)
    web_store.xcom_push(TaskInstanceKey(HIDDEN_DAG, secret.run_id, "s"), "return_value", 3, clock.now)
    viewer = basic("viewer", users["viewer"])

    def entries(path: str, auth: dict[str, str] = viewer) -> list[tuple[str, str, str]]:
        response = client.get(f"/api/v1/dags/{path}", headers=auth)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total_entries"] >= len(body["xcom_entries"])
        return [(x["dag_run_id"], x["task_id"], x["key"]) for x in body["xcom_entries"]]

    every = "~/dagRuns/~/taskInstances/~/xcomEntries"
    in_order = [(failed.run_id, "billing.fetch", "return_value"), (failed.run_id, "crm.fetch", "return_value"),
                (running.run_id, "crm.fetch", "path")]  # by logical date, task, DAG, key: Airflow's order
    assert entries(every) == in_order
    listed = client.get(f"/api/v1/dags/{every}", headers=viewer).get_json()["xcom_entries"]
    assert [x["execution_date"] for x in listed] == [failed.logical_date.isoformat()] * 2 + [
        running.logical_date.isoformat()]
    assert entries(f"{dag_id}/dagRuns/~/taskInstances/crm.fetch/xcomEntries") == in_order[1:]
    assert entries(f"{dag_id}/dagRuns/{failed.run_id}/taskInstances/~/xcomEntries") == in_order[:2]
    assert entries(f"~/dagRuns/{running.run_id}/taskInstances/~/xcomEntries") == in_order[2:]
    assert entries(f"{every}?xcom_key=return_value&map_index=-1") == in_order[:2]
    assert entries(f"{every}?limit=1&offset=1") == in_order[1:2]
    assert client.get(f"/api/v1/dags/{every}?limit=1", headers=viewer).get_json()["total_entries"] == 3
    admin = basic("admin", users["admin"])
    assert entries(every, admin) == [*in_order, (secret.run_id, "s", "return_value")]  # by logical date
    hidden = client.get(f"/api/v1/dags/{HIDDEN_DAG}/dagRuns/~/taskInstances/~/xcomEntries", headers=viewer)
    assert hidden.status_code == 404 and hidden.is_json
    for missing in ("nope/dagRuns/~/taskInstances/~/xcomEntries",
                    f"{dag_id}/dagRuns/nope/taskInstances/~/xcomEntries"):
        answer = client.get(f"/api/v1/dags/{missing}", headers=viewer)
        assert answer.status_code == 404 and answer.is_json, missing
    assert client.get(f"/api/v1/dags/{every}?bogus=1", headers=viewer).status_code == 400


@pytest.mark.parametrize("suffix", ["99999999999999999999", "1000000001", "-2"])
def test_a_map_index_that_cannot_exist_in_the_path_is_a_404_never_a_500(
        client: FlaskClient, users: dict[str, str], seeded: Seeded, suffix: str) -> None:
    url = f"{tis_url(seeded, seeded.failed_run.run_id)}/web.fetch/{suffix}"
    for method, body in (("GET", None), ("PATCH", {"new_state": "success"}), ("PATCH", {"note": "x"})):
        target = url + "/setNote" if body == {"note": "x"} else url
        response = client.open(target, method=method, json=body, headers=basic("user", users["user"]))
        assert response.status_code == 404 and response.is_json, (method, target)
        assert "map_index must be between -1 and 1000000000" in response.get_json()["detail"]


@pytest.mark.parametrize("where", ["/logs/1?map_index=99999999999999999999", "/xcomEntries?map_index=-2",
                                   "/xcomEntries/return_value?map_index=99999999999999999999"])
def test_a_map_index_out_of_range_in_the_query_is_a_400(client: FlaskClient, users: dict[str, str],
                                                        seeded: Seeded, where: str) -> None:
    response = client.get(f"{tis_url(seeded, seeded.success_run.run_id)}/crm.fetch{where}",
                          headers=basic("viewer", users["viewer"]))
    assert response.status_code == 400 and response.is_json
    assert "map_index must be between -1 and 1000000000" in response.get_json()["detail"]


XCOM_VALUES = [("ok", "ok"), ([0, 1, 2], "[0, 1, 2]"), ({"a": 1}, "{'a': 1}"), (26, "26"), (True, "True"),
               (None, None)]


@pytest.mark.parametrize("pushed, shown", XCOM_VALUES)
def test_an_xcom_value_is_the_str_of_the_python_value_by_default_as_airflows(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded, clock: Clock,
        pushed: object, shown: object) -> None:
    run = seeded.success_run
    web_store.xcom_push(TaskInstanceKey(seeded.dag_id, run.run_id, "crm.fetch"), "v", pushed, clock.now)
    url = f"{tis_url(seeded, run.run_id)}/crm.fetch/xcomEntries/v"
    auth = basic("viewer", users["viewer"])
    assert client.get(url, headers=auth).get_json()["value"] == shown
    assert client.get(f"{url}?deserialize=true", headers=auth).get_json()["value"] == shown
    assert client.get(f"{url}?stringify=true", headers=auth).get_json()["value"] == shown
    for query in ("stringify=false", "deserialize=true&stringify=false"):
        native = client.get(f"{url}?{query}", headers=auth).get_json()["value"]
        assert native == pushed and type(native) is type(pushed), query


def test_an_xcom_tuple_is_its_python_repr_by_default_and_a_json_list_natively(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded, clock: Clock) -> None:
    from flowctl.core.xcom_values import encode_xcom_value

    run = seeded.success_run
    pushed = encode_xcom_value((1, "a"))  # as the task runner pushes it
    web_store.xcom_push(TaskInstanceKey(seeded.dag_id, run.run_id, "crm.fetch"), "pair", pushed, clock.now)
    url = f"{tis_url(seeded, run.run_id)}/crm.fetch/xcomEntries/pair"
    auth = basic("viewer", users["viewer"])
    assert client.get(url, headers=auth).get_json()["value"] == "(1, 'a')"
    assert client.get(f"{url}?deserialize=true&stringify=false", headers=auth).get_json()["value"] == [1, "a"]


def test_an_xcom_date_is_python_text_by_default_and_iso_text_natively(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded, clock: Clock) -> None:
    from datetime import datetime, timezone

    from flowctl.core.xcom_values import encode_xcom_value

    run = seeded.success_run
    when = datetime(2024, 3, 1, 6, 30, tzinfo=timezone.utc)
    pushed = encode_xcom_value({"when": when})  # as the task runner pushes it
    web_store.xcom_push(TaskInstanceKey(seeded.dag_id, run.run_id, "crm.fetch"), "at", pushed, clock.now)
    url = f"{tis_url(seeded, run.run_id)}/crm.fetch/xcomEntries/at"
    auth = basic("viewer", users["viewer"])
    assert client.get(url, headers=auth).get_json()["value"] == f"{{'when': {when!r}}}"
    native = client.get(f"{url}?deserialize=true&stringify=false", headers=auth).get_json()["value"]
    assert native == {"when": "2024-03-01T06:30:00+00:00"}
    assert client.get(f"{url}?stringify=maybe", headers=auth).status_code == 400


def test_set_note_on_a_task_instance_returns_it_with_the_note(client: FlaskClient, users: dict[str, str],
                                                               web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    key = TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")
    url = f"{tis_url(seeded, run.run_id)}/web.fetch"
    auth = basic("user", users["user"])
    response = client.patch(f"{url}/setNote", json={"note": "flaky upstream"}, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["note"] == "flaky upstream" and response.get_json()["state"] == "failed"
    assert web_store.get_task_instance(key).note == "flaky upstream"
    assert client.get(url, headers=auth).get_json()["note"] == "flaky upstream"
    by_index = client.patch(f"{url}/-1/setNote", json={"note": "seen"}, headers=auth)
    assert by_index.status_code == 200 and web_store.get_task_instance(key).note == "seen"
    assert [(a.event, a.source, a.task_id) for a in web_store.list_audit() if a.event == "set_note"] == [
        ("set_note", "api", "web.fetch")] * 2
    cleared = client.patch(f"{url}/setNote", json={"note": None}, headers=auth)
    assert cleared.status_code == 200 and web_store.get_task_instance(key).note is None


@pytest.mark.parametrize("path, body, status", [
    ("/web.fetch/setNote", {}, 400), ("/web.fetch/setNote", {"note": 5}, 400),
    ("/web.fetch/setNote", {"note": "x" * 1001}, 400), ("/web.fetch/setNote", {"note": "x", "colour": 1}, 400),
    ("/web.fetch/0/setNote", {"note": "x"}, 404), ("/nope/setNote", {"note": "x"}, 404),
    ("/web.fetch", {"note": "x"}, 400),  # Airflow's PATCH of a task instance does not set notes either
])
def test_set_note_on_a_task_instance_refuses_bad_input(client: FlaskClient, users: dict[str, str],
                                                       web_store: Store, seeded: Seeded, path: str,
                                                       body: dict[str, object], status: int) -> None:
    run = seeded.failed_run
    response = client.patch(tis_url(seeded, run.run_id) + path, json=body, headers=basic("user", users["user"]))
    assert response.status_code == status and response.is_json
    assert web_store.get_task_instance(TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")).note is None


def test_a_viewer_may_not_set_a_task_instance_note(client: FlaskClient, users: dict[str, str], web_store: Store,
                                                   seeded: Seeded) -> None:
    run = seeded.failed_run
    response = client.patch(f"{tis_url(seeded, run.run_id)}/web.fetch/setNote", json={"note": "x"},
                            headers=basic("viewer", users["viewer"]))
    assert response.status_code == 403
    assert web_store.get_task_instance(TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")).note is None


def test_a_task_the_dag_does_not_have_is_a_404_naming_it_for_update_state_and_list_mapped(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    auth = basic("user", users["user"])
    for dry_run in (True, False):
        answer = client.post(f"/api/v1/dags/{seeded.dag_id}/updateTaskInstancesState", headers=auth,
                             json={"dag_run_id": run.run_id, "task_id": "nope", "new_state": "success",
                                   "dry_run": dry_run})
        assert answer.status_code == 404 and "nope" in answer.get_json()["detail"]
    mapped = client.get(f"{tis_url(seeded, run.run_id)}/nope/listMapped", headers=auth)
    assert mapped.status_code == 404 and "nope" in mapped.get_json()["detail"]
    assert web_store.get_task_instance(TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")).state == "failed"


def test_update_state_refuses_a_run_id_and_an_execution_date_together(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    body = {"dag_run_id": run.run_id, "execution_date": run.logical_date.isoformat(), "task_id": "web.fetch",
            "new_state": "success", "dry_run": False}
    response = client.post(f"/api/v1/dags/{seeded.dag_id}/updateTaskInstancesState", json=body,
                           headers=basic("user", users["user"]))
    assert response.status_code == 400 and "not both" in response.get_json()["detail"]
    assert web_store.get_task_instance(TaskInstanceKey(seeded.dag_id, run.run_id, "web.fetch")).state == "failed"


def test_a_page_limit_above_the_maximum_is_capped_not_refused(client: FlaskClient, users: dict[str, str],
                                                              seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    run = seeded.failed_run
    for limit in ("1001", "99999999999999999999"):
        listed = client.get(f"{tis_url(seeded, run.run_id)}?limit={limit}", headers=auth)
        assert listed.status_code == 200 and listed.get_json()["total_entries"] == len(seeded.task_ids)
        xcoms = client.get(f"{tis_url(seeded, run.run_id)}/web.fetch/xcomEntries?limit={limit}", headers=auth)
        assert xcoms.status_code == 200, xcoms.get_json()
    posted = client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", json={"page_limit": 10**20}, headers=auth)
    assert posted.status_code == 200 and posted.get_json()["total_entries"] > 0
    for bad in ("-1", "ten", "1.5"):
        assert client.get(f"{tis_url(seeded, run.run_id)}?limit={bad}", headers=auth).status_code == 400, bad
    assert client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", json={"page_limit": 0},
                       headers=auth).status_code == 400


def test_a_deferred_task_instance_shows_its_trigger_and_the_triggerer_job_running_it(
        client: FlaskClient, users: dict[str, str], web_store: Store, seeded: Seeded) -> None:
    run = seeded.running_run
    key = TaskInstanceKey(seeded.dag_id, run.run_id, "crm.fetch")  # running its try 1
    now = run.logical_date + timedelta(minutes=1)
    kwargs = encode_json({"moment": datetime(2030, 1, 1, tzinfo=timezone.utc), "api_token": "tok-never-shown",
                          "auth": {"password": "pw-never-shown"}})
    assert web_store.defer_try(key, 1, "flowctl.triggers.temporal.DateTimeTrigger", kwargs, "done", {}, None, now)
    auth = basic("viewer", users["viewer"])
    url = f"{tis_url(seeded, run.run_id)}/crm.fetch"
    waiting = client.get(url, headers=auth).get_json()
    assert waiting["state"] == "deferred" and waiting["triggerer_job"] is None  # no triggerer took it yet
    trigger = waiting["trigger"]
    assert (trigger["classpath"], trigger["created_date"], trigger["triggerer_id"]) == (
        "flowctl.triggers.temporal.DateTimeTrigger", now.isoformat(), None)
    assert isinstance(trigger["id"], int) and isinstance(trigger["kwargs"], str)  # Airflow's: the kwargs as text
    assert "never-shown" not in trigger["kwargs"] and "'api_token': '***'" in trigger["kwargs"]
    assert "'password': '***'" in trigger["kwargs"] and "2030" in trigger["kwargs"]

    job = web_store.create_job("triggerer", "trigger-host", 4242, now)
    assert web_store.assign_triggers(job.id, 10, now - timedelta(seconds=30)) == [trigger["id"]]
    assert web_store.heartbeat_job(job.id, now + timedelta(seconds=5))
    taken = client.get(url, headers=auth).get_json()
    assert taken["trigger"] == {**trigger, "triggerer_id": job.id}
    assert taken["triggerer_job"] == {
        "id": job.id, "dag_id": None, "state": "running", "job_type": "TriggererJob",
        "start_date": now.isoformat(), "end_date": None, "latest_heartbeat": (now + timedelta(seconds=5)).isoformat(),
        "executor_class": None, "hostname": "trigger-host", "unixname": None}
    listed = client.get(tis_url(seeded, run.run_id), headers=auth).get_json()["task_instances"]
    assert [(t["trigger"], t["triggerer_job"]) for t in listed if t["task_id"] == "crm.fetch"] == [
        (taken["trigger"], taken["triggerer_job"])]
    assert all(t["trigger"] is None and t["triggerer_job"] is None for t in listed if t["task_id"] != "crm.fetch")
    posted = client.post("/api/v1/dags/~/dagRuns/~/taskInstances/list", headers=auth,
                         json={"state": ["deferred"]}).get_json()["task_instances"]
    assert [t["triggerer_job"]["hostname"] for t in posted] == ["trigger-host"]

    assert web_store.fire_trigger(trigger["id"], None, now) == [key]
    resumed = client.get(url, headers=auth).get_json()
    assert resumed["state"] == "scheduled" and resumed["trigger"] is None and resumed["triggerer_job"] is None
