"""``[api] maximum_page_limit`` and ``[api] fallback_page_limit``: the page sizes of every REST API list,
read from the app's settings (here a maximum of 3 and a fallback of 2), as Airflow's ``check_limit``."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.settings import Settings
from tests.web.conftest import basic
from tests.web.test_api_dags import ids, many_dags
from tests.web.webdata import Seeded, make_run

MAXIMUM, FALLBACK = 3, 2


@pytest.fixture
def web_settings(tmp_path: Path, migrated_sqlite_url: str) -> Settings:
    env = {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": migrated_sqlite_url,
           "FLOWCTL__WEBSERVER__SECRET_KEY": "test-secret-" + tmp_path.name,
           "FLOWCTL__API__MAXIMUM_PAGE_LIMIT": str(MAXIMUM), "FLOWCTL__API__FALLBACK_PAGE_LIMIT": str(FALLBACK)}
    return Settings.load(environ=env)


def test_a_limit_above_the_configured_maximum_is_capped_to_it(client: FlaskClient, users: dict[str, str],
                                                               web_store: Store) -> None:
    many_dags(web_store, 5)
    auth = basic("viewer", users["viewer"])
    for limit in ("4", "1000", "99999999999999999999"):
        response = client.get(f"/api/v1/dags?limit={limit}", headers=auth)
        assert len(ids(response)) == MAXIMUM and response.get_json()["total_entries"] == 5, limit
    assert len(ids(client.get("/api/v1/dags?limit=1", headers=auth))) == 1


def test_no_limit_or_a_limit_of_zero_gives_the_configured_fallback(client: FlaskClient, users: dict[str, str],
                                                                    web_store: Store) -> None:
    many_dags(web_store, 5)
    auth = basic("viewer", users["viewer"])
    assert len(ids(client.get("/api/v1/dags", headers=auth))) == FALLBACK
    assert len(ids(client.get("/api/v1/dags?limit=0", headers=auth))) == FALLBACK
    assert len(ids(client.get("/api/v1/dags?limit=", headers=auth))) == FALLBACK


def test_other_lists_and_list_bodies_use_the_same_limits(client: FlaskClient, users: dict[str, str],
                                                         web_store: Store, seeded: Seeded) -> None:
    auth = basic("admin", users["admin"])
    for i in range(5):
        web_store.set_variable(f"var_{i}", "x")
    variables = client.get("/api/v1/variables?limit=50", headers=auth).get_json()
    assert len(variables["variables"]) == MAXIMUM and variables["total_entries"] == 5
    assert len(client.get("/api/v1/variables", headers=auth).get_json()["variables"]) == FALLBACK
    url = "/api/v1/dags/~/dagRuns/~/taskInstances/list"
    capped = client.post(url, json={"page_limit": 50}, headers=auth).get_json()
    assert len(capped["task_instances"]) == MAXIMUM and capped["total_entries"] > MAXIMUM
    assert len(client.post(url, json={}, headers=auth).get_json()["task_instances"]) == FALLBACK
    for day in (1, 2):
        make_run(web_store, seeded.dag_id, day)
    runs = client.post("/api/v1/dags/~/dagRuns/list", json={"page_limit": 50}, headers=auth).get_json()
    assert len(runs["dag_runs"]) == MAXIMUM and runs["total_entries"] > MAXIMUM


def test_a_bad_limit_is_a_400_with_a_json_detail_naming_the_configured_limits(client: FlaskClient,
                                                                                users: dict[str, str]) -> None:
    auth = basic("viewer", users["viewer"])
    for bad in ("-1", "ten", "1.5"):
        response = client.get(f"/api/v1/dags?limit={bad}", headers=auth)
        assert response.status_code == 400 and response.is_json, bad
        assert "limit" in response.get_json()["detail"], bad
    negative = client.get("/api/v1/dags?limit=-1", headers=auth).get_json()["detail"]
    assert f"the default, {FALLBACK}" in negative and f"above {MAXIMUM}: {MAXIMUM}" in negative
    for body in ({"page_limit": 0}, {"page_limit": "10"}, {"page_limit": True}):
        response = client.post("/api/v1/dags/~/dagRuns/list", json=body, headers=auth)
        assert response.status_code == 400 and response.is_json, body
        assert f"above {MAXIMUM}: {MAXIMUM}" in response.get_json()["detail"], body


def test_the_page_limits_are_refused_by_settings_unless_whole_numbers_from_one(tmp_path: Path) -> None:
    from flowctl.core.errors import ConfigError

    for name in ("MAXIMUM_PAGE_LIMIT", "FALLBACK_PAGE_LIMIT"):
        for bad in ("0", "-5", "many"):
            with pytest.raises(ConfigError, match=rf"\[api\] {name.lower()}"):
                Settings.load({"FLOWCTL_HOME": str(tmp_path), f"FLOWCTL__API__{name}": bad})
    defaults = Settings.load({"FLOWCTL_HOME": str(tmp_path)})
    assert (defaults.get("api", "maximum_page_limit"), defaults.get("api", "fallback_page_limit")) == (1000, 100)
