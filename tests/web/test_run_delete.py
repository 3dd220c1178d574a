"""Deleting one DAG run from its page: confirm first, Op role or above, CSRF, audited; in a browser too."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from tests.web.conftest import browser_login, csrf_of
from tests.web.webdata import Seeded


def run_path(run: Any) -> str:
    return f"/dags/{run.dag_id}/runs/{quote(run.run_id, safe='')}"


def exists(store: Store, run: Any) -> bool:
    return any(r.run_id == run.run_id for r in store.list_runs(run.dag_id))


def post(client: FlaskClient, url: str, data: dict[str, str] | None = None) -> Any:
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)})


def test_the_run_page_offers_delete_to_an_op(op_client: FlaskClient, seeded: Seeded) -> None:
    page = op_client.get(run_path(seeded.failed_run)).get_data(as_text=True)
    assert 'id="delete-run-btn"' in page and f'action="{run_path(seeded.failed_run)}/delete"' in page


def test_deleting_a_run_asks_first_and_changes_nothing(op_client: FlaskClient, web_store: Store,
                                                       seeded: Seeded) -> None:
    run = seeded.failed_run
    response = post(op_client, run_path(run) + "/delete")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="confirm"' in page and run.run_id in page and "btn-danger" in page
    assert exists(web_store, run)


def test_a_confirmed_delete_removes_the_run_its_task_instances_and_xcoms_and_is_audited(
        op_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    key = TaskInstanceKey(run.dag_id, run.run_id, "web.fetch")
    web_store.xcom_push(key, "return_value", {"rows": 3}, run.logical_date)
    response = post(op_client, run_path(run) + "/delete", {"confirmed": "1"})
    assert response.status_code == 302 and response.headers["Location"] == f"/dags/{run.dag_id}/grid"
    assert not exists(web_store, run)
    assert exists(web_store, seeded.success_run) and exists(web_store, seeded.running_run)
    assert web_store.list_xcoms(run.key) == []
    row = web_store.list_audit(event="delete_run", limit=1)[0]
    assert (row.owner, row.dag_id, row.run_id) == ("op", run.dag_id, run.run_id)
    assert json.loads(row.extra or "{}")["dag_run"] == 1
    assert op_client.get(run_path(run)).status_code == 404


def test_a_user_or_viewer_may_not_delete_a_run(user_client: FlaskClient, viewer_client: FlaskClient,
                                              web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    assert 'id="delete-run-btn"' not in user_client.get(run_path(run)).get_data(as_text=True)
    assert post(user_client, run_path(run) + "/delete", {"confirmed": "1"}).status_code == 403
    assert post(viewer_client, run_path(run) + "/delete", {"confirmed": "1"}).status_code == 403
    assert exists(web_store, run)


def test_a_delete_without_the_csrf_token_is_refused(op_client: FlaskClient, web_store: Store,
                                                    seeded: Seeded) -> None:
    run = seeded.failed_run
    response = op_client.post(run_path(run) + "/delete", data={"confirmed": "1"})
    assert response.status_code == 400 and exists(web_store, run)


def test_deleting_a_run_that_is_gone_is_404(op_client: FlaskClient, seeded: Seeded) -> None:
    assert post(op_client, f"/dags/{seeded.dag_id}/runs/no_such_run/delete").status_code == 404


@pytest.fixture
def op_tab(page: Any, users: dict[str, str], seeded: Seeded) -> Any:
    browser_login(page, "op", users["op"])
    return page


def test_deleting_a_run_in_a_browser_after_confirming(op_tab: Any, web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    op_tab.goto(run_path(run))
    op_tab.click("#delete-run-btn")
    op_tab.wait_for_selector("#confirm")
    assert exists(web_store, run)
    op_tab.click("#confirm-btn")
    op_tab.wait_for_url("**/grid")
    assert not exists(web_store, run)
    assert "Deleted run" in op_tab.inner_text(".flash-success")
