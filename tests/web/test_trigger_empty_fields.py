"""The trigger form: a field left empty means "no value" (the default, or null where null is allowed),
never an empty string, and a required param left empty is refused with the API's and CLI's message.

Through the test client (the form as posted without JavaScript) and in headless Chromium (where the
form's script also copies the fields into the JSON conf editor, whose keys win).
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.web.trigger_form import conf_from_form, param_fields
from tests.web.conftest import browser_login, post
from tests.web.test_api_runs import basic
from tests.web.webdata import sync_example

DAG_ID = "trigger_empty_fields"
DAG_FILE = '''
from datetime import datetime

from flowctl import DAG
from flowctl.models.param import Param
from flowctl.operators.empty import EmptyOperator

with DAG("trigger_empty_fields", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
         params={"limit": Param(None, type=["null", "integer"]),
                 "label": Param("daily", type="string"),
                 "owner": Param(type="string"),
                 "note": Param(type=["null", "string"])}):
    EmptyOperator(task_id="only")
'''
NO_VALUE = "param 'owner' has no value and no default"


@pytest.fixture
def params_dag(web_store: Store, tmp_path: Path) -> str:
    path = tmp_path / "trigger_empty_fields.py"
    path.write_text(DAG_FILE)
    assert sync_example(web_store, path) == [DAG_ID]
    return DAG_ID


def form(**values: str) -> dict[str, str]:
    fields = {"limit": "", "label": "", "owner": "", "note": ""}
    fields.update(values)
    return {f"param.{k}": v for k, v in fields.items()}


def test_empty_fields_are_the_default_or_null_never_an_empty_string(web_store: Store, params_dag: str) -> None:
    params = web_store.latest_serialized_dag(params_dag).data["params"]
    conf = conf_from_form(param_fields(params), form(owner="ana"), "")
    assert conf == {"owner": "ana", "note": None}  # limit and label: their defaults, filled in by the params


def test_an_optional_integer_left_empty_triggers_a_run_with_null(user_client: FlaskClient, web_store: Store,
                                                                 params_dag: str) -> None:
    response = post(user_client, f"/dags/{params_dag}/trigger", {**form(owner="ana"), "run_id": "empty_limit"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    run = web_store.get_run(params_dag, "empty_limit")
    assert run.conf == {"owner": "ana", "note": None}


def test_a_required_param_left_empty_is_refused_with_the_apis_message(user_client: FlaskClient,
                                                                      web_store: Store, params_dag: str) -> None:
    response = post(user_client, f"/dags/{params_dag}/trigger", {**form(), "run_id": "no_owner"})
    assert response.status_code == 400 and NO_VALUE in html.unescape(response.get_data(as_text=True))
    assert all(r.run_id != "no_owner" for r in web_store.list_runs(params_dag))


def test_the_api_gives_the_same_message_for_the_same_conf(client: FlaskClient, users: dict[str, str],
                                                          params_dag: str) -> None:
    response = client.post(f"/api/v1/dags/{params_dag}/dagRuns", json={"dag_run_id": "api_no_owner"},
                           headers=basic("user", users["user"]))
    assert response.status_code == 400 and NO_VALUE in response.get_data(as_text=True)


# --- in a browser: the script's JSON conf must not bring the empty strings back -----------------------------

@pytest.fixture
def user_tab(page: Any, users: dict[str, str], params_dag: str) -> Any:
    browser_login(page, "user", users["user"])
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def test_triggering_in_a_browser_with_empty_fields_uses_defaults_and_null(user_tab: Any, web_store: Store,
                                                                          params_dag: str) -> None:
    user_tab.goto(f"/dags/{params_dag}/trigger")
    user_tab.fill("#p-label", "")
    user_tab.fill("#p-owner", "ana")
    user_tab.dispatch_event("#p-owner", "change")
    user_tab.click("#trigger-form details summary")
    user_tab.fill("#run_id", "browser_empty")
    user_tab.click("#trigger-submit")
    user_tab.wait_for_url("**/runs/browser_empty")
    assert web_store.get_run(params_dag, "browser_empty").conf == {"owner": "ana", "note": None}


def test_a_required_field_left_empty_in_a_browser_is_refused(user_tab: Any, web_store: Store,
                                                             params_dag: str) -> None:
    user_tab.goto(f"/dags/{params_dag}/trigger")
    user_tab.click("#trigger-form details summary")
    user_tab.fill("#run_id", "browser_no_owner")
    user_tab.click("#trigger-submit")
    user_tab.wait_for_selector("#trigger-error")
    assert NO_VALUE in user_tab.inner_text("#trigger-error")
    assert all(r.run_id != "browser_no_owner" for r in web_store.list_runs(params_dag))
