"""More of Airflow 2's UI addresses: each redirect lands on a page that exists, with the filters it carried."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.web.webdata import Seeded


def _followed(client: FlaskClient, url: str) -> tuple[str, dict[str, list[str]], int]:
    """(path, query, status) of where the redirect leads, and the status of that page."""
    response = client.get(url)
    assert response.status_code in (301, 302), (url, response.status_code)
    target = urlsplit(response.headers["Location"])
    landed = client.get(response.headers["Location"])
    return target.path, parse_qs(target.query), landed.status_code


def test_dag_details_by_query_opens_the_dags_page(admin_client: FlaskClient, seeded: Seeded) -> None:
    path, _query, status = _followed(admin_client, f"/dag_details?dag_id={seeded.dag_id}")
    assert path == f"/dags/{seeded.dag_id}" and status == 200


def test_trigger_by_query_opens_the_trigger_form(admin_client: FlaskClient, seeded: Seeded) -> None:
    path, _query, status = _followed(admin_client, f"/trigger?dag_id={seeded.dag_id}")
    assert path == f"/dags/{seeded.dag_id}/trigger" and status == 200


def test_home_keeps_airflows_filters(admin_client: FlaskClient, seeded: Seeded) -> None:
    path, query, status = _followed(admin_client, "/home?tags=example&status=active&search=task")
    assert path == "/" and status == 200
    assert query == {"tag": ["example"], "status": ["active"], "search": ["task"]}
    _path, query, _status = _followed(admin_client, "/home?status=paused")
    assert query == {"status": ["paused"]}
    _path, query, _status = _followed(admin_client, "/home?status=all&lastrun=failed")
    assert query == {"last_run_state": ["failed"]}


@pytest.mark.parametrize(("old", "new"), [
    ("/importerror/list/", "/import-errors"), ("/slamiss/list/", "/browse/sla-misses"),
    ("/xcom/list/", "/browse/task-instances")])
def test_airflows_other_list_pages_land_on_flowctls(admin_client: FlaskClient, seeded: Seeded, old: str,
                                                    new: str) -> None:
    path, _query, status = _followed(admin_client, old)
    assert path == new and status == 200


def test_a_list_pages_dag_filter_is_kept(admin_client: FlaskClient, seeded: Seeded) -> None:
    _path, query, _status = _followed(admin_client, f"/dagrun/list/?_flt_0_dag_id={seeded.dag_id}")
    assert query == {"dag_id": [seeded.dag_id]}
    _path, query, _status = _followed(admin_client, f"/xcom/list/?_flt_3_dag_id={seeded.dag_id}&_flt_0_task_id=x")
    assert query == {"dag_id": [seeded.dag_id], "task_id": ["x"]}
