"""Airflow 2's UI addresses (bookmarks, alert links, ti.log_url) lead to the same page in flowctl."""
from __future__ import annotations

from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.web.webdata import HIDDEN_DAG, Seeded, seed_hidden


def _location(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code in (301, 302), (url, response.status_code)
    return response.headers["Location"]


@pytest.mark.parametrize(("old", "new"), [
    ("/home", "/"), ("/variable/list/", "/admin/variables"), ("/connection/list/", "/admin/connections"),
    ("/pool/list/", "/admin/pools"), ("/log/list/", "/audit"), ("/dagrun/list/", "/browse/runs"),
    ("/taskinstance/list/", "/browse/task-instances"), ("/users/list/", "/admin/users"),
])
def test_airflows_list_pages_redirect_to_flowctls(admin_client: FlaskClient, old: str, new: str) -> None:
    assert _location(admin_client, old) == new


def test_airflows_dag_views_by_query_redirect_to_the_dags_pages(admin_client: FlaskClient, seeded: Seeded) -> None:
    dag_id = seeded.dag_id
    for view, page in (("graph", "graph"), ("tree", "grid"), ("grid", "grid"), ("gantt", "gantt"),
                       ("code", "code"), ("duration", "duration"), ("calendar", "calendar"),
                       ("trigger", "trigger")):
        assert _location(admin_client, f"/{view}?dag_id={dag_id}") == f"/dags/{dag_id}/{page}"
    assert _location(admin_client, f"/dag_details?dag_id={dag_id}") == f"/dags/{dag_id}"  # its page, not a 404
    assert admin_client.get("/graph").status_code == 400  # no dag_id: says so


def test_a_log_link_by_execution_date_opens_that_runs_task(admin_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.success_run
    query = urlencode({"dag_id": run.dag_id, "task_id": seeded.task_ids[0],
                       "execution_date": run.logical_date.isoformat()})
    where = _location(admin_client, f"/log?{query}")
    assert urlsplit(where).path == f"/dags/{run.dag_id}/runs/{quote(run.run_id, safe='')}/tasks/{seeded.task_ids[0]}"
    missing = admin_client.get(f"/log?dag_id={run.dag_id}&task_id=t&execution_date=1999-01-01T00:00:00Z")
    assert missing.status_code == 404


def test_airflow_2_7s_grid_link_to_a_task_log_opens_that_task_not_the_latest_run(admin_client: FlaskClient,
                                                                                 seeded: Seeded) -> None:
    """ti.log_url is such a link: before, it opened the grid at the newest run."""
    run = seeded.success_run
    query = urlencode({"dag_run_id": run.run_id, "task_id": seeded.task_ids[0], "map_index": -1, "try_number": 1,
                       "tab": "logs"})
    where = _location(admin_client, f"/dags/{run.dag_id}/grid?{query}")
    parts = urlsplit(where)
    assert parts.path == f"/dags/{run.dag_id}/runs/{quote(run.run_id, safe='')}/tasks/{seeded.task_ids[0]}"
    assert parse_qs(parts.query) == {"try": ["1"]}


def test_a_log_link_to_a_dag_the_user_may_not_see_answers_as_for_a_missing_dag(
        viewer_client: FlaskClient, op_client: FlaskClient, web_store: Store) -> None:
    """Before: a Viewer's /log?dag_id=<hidden DAG> redirected to the hidden run's page, naming its id."""
    run = seed_hidden(web_store)
    for path in ("/log", "/task"):
        query = {"task_id": "s", "execution_date": run.logical_date.isoformat()}
        hidden = viewer_client.get(f"{path}?{urlencode({'dag_id': HIDDEN_DAG, **query})}")
        missing = viewer_client.get(f"{path}?{urlencode({'dag_id': 'no_such_dag', **query})}")
        assert hidden.status_code == missing.status_code == 404
        assert run.run_id not in hidden.get_data(as_text=True)
        assert hidden.get_data(as_text=True) == missing.get_data(as_text=True).replace("no_such_dag", HIDDEN_DAG)
        assert quote(run.run_id, safe="") in _location(op_client, f"{path}?{urlencode({'dag_id': HIDDEN_DAG, **query})}")


def test_a_grid_log_link_to_a_dag_the_user_may_not_see_answers_as_for_a_missing_dag(
        viewer_client: FlaskClient, web_store: Store) -> None:
    """Before: a missing DAG's link redirected (to a 404) while a hidden DAG's was a 404 at once."""
    run = seed_hidden(web_store)
    query = urlencode({"dag_run_id": run.run_id, "task_id": "s", "try_number": 1})
    hidden = viewer_client.get(f"/dags/{HIDDEN_DAG}/grid?{query}")
    missing = viewer_client.get(f"/dags/no_such_dag/grid?{query}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data(as_text=True) == missing.get_data(as_text=True).replace("no_such_dag", HIDDEN_DAG)
