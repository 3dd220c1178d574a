"""``GET /api/v1/dagSources/<file_token>`` as Airflow 2 scripts call it: the token comes from the DAG object,
the source as text or JSON, and a token opens only the file of a DAG the user may see."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer

from flowctl.db.store import Store
from tests.db.samples import serialized
from tests.web.conftest import BOTH_DATABASES, store_on
from tests.web.test_api_runs import basic
from tests.web.webdata import EXAMPLE_FILE, T0, Seeded, sync_example


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    """The file lookup runs on both databases."""
    return store_on(request)


def token_of(client: FlaskClient, auth: dict[str, str], dag_id: str) -> str:
    token = client.get(f"/api/v1/dags/{dag_id}", headers=auth).get_json()["file_token"]
    assert isinstance(token, str) and token
    return token


def test_the_file_token_of_a_dag_reads_its_source_as_text_or_json(client: FlaskClient, users: dict[str, str],
                                                                   seeded: Seeded) -> None:
    auth = basic("viewer", users["viewer"])
    token = token_of(client, auth, seeded.dag_id)
    assert str(EXAMPLE_FILE) not in token  # opaque, not the path
    listed = client.get("/api/v1/dags", headers=auth).get_json()["dags"][0]
    details = client.get(f"/api/v1/dags/{seeded.dag_id}/details", headers=auth).get_json()
    assert listed["file_token"] == details["file_token"] == token
    source = EXAMPLE_FILE.read_text()
    text = client.get(f"/api/v1/dagSources/{token}", headers=auth)
    assert text.status_code == 200 and text.mimetype == "text/plain" and text.get_data(as_text=True) == source
    as_json = client.get(f"/api/v1/dagSources/{token}", headers={**auth, "Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.get_json() == {"content": source}
    refused = client.get(f"/api/v1/dagSources/{token}", headers={**auth, "Accept": "image/png"})
    assert refused.status_code == 406
    assert client.get(f"/api/v1/dagSources/{token}").status_code == 401


def test_a_token_opens_only_the_file_of_a_known_dag(app: Flask, client: FlaskClient, users: dict[str, str],
                                                    web_store: Store, seeded: Seeded, tmp_path: Path) -> None:
    auth = basic("admin", users["admin"])
    other = tmp_path / "not_a_dag.py"
    other.write_text("SECRET = 1\n")
    ours = URLSafeSerializer(app.secret_key, salt="flowctl.dagSources")  # type: ignore[arg-type]
    forged = URLSafeSerializer("another-key", salt="flowctl.dagSources")
    for token in (ours.dumps(str(other)), ours.dumps("/etc/passwd"), forged.dumps(str(EXAMPLE_FILE)),
                  "not-a-token", ours.dumps(["a", "list"])):
        response = client.get(f"/api/v1/dagSources/{token}", headers=auth)
        assert response.status_code == 404 and response.is_json, token
        assert "SECRET" not in response.get_data(as_text=True)
    web_store.sync_dag(serialized("gone_file"), str(tmp_path / "deleted.py"), T0)
    missing = client.get(f"/api/v1/dagSources/{token_of(client, auth, 'gone_file')}", headers=auth)
    assert missing.status_code == 404 and missing.is_json


def test_a_dag_the_user_may_not_see_has_no_source_for_them(client: FlaskClient, users: dict[str, str],
                                                           web_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "secret_dag.py"
    path.write_text(
        "from datetime import datetime\nfrom flowctl import DAG\nfrom flowctl.operators.empty import EmptyOperator\n"
        "with DAG('secret_dag', schedule=None, start_date=datetime(2024, 1, 1), "
        "access_control={'Op': {'can_read'}}):\n    EmptyOperator(task_id='t')\n")
    sync_example(web_store, path, T0)
    token = token_of(client, basic("admin", users["admin"]), "secret_dag")
    hidden = client.get(f"/api/v1/dagSources/{token}", headers=basic("viewer", users["viewer"]))
    assert hidden.status_code == 404 and hidden.is_json
    shown = client.get(f"/api/v1/dagSources/{token}", headers=basic("op", users["op"]))
    assert shown.status_code == 200 and "secret_dag" in shown.get_data(as_text=True)
