"""The datasets REST API in Airflow 2's shapes: GET /datasets and GET /datasets/events."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from flowctl.db.store import Store
from tests.db.samples import T0
from tests.db.test_datasets import LATER, SUCCESS, A, B, consumer, producer, running, succeed
from tests.web.conftest import BOTH_DATABASES, basic, store_on

API = "/api/v1"


@pytest.fixture(params=BOTH_DATABASES)
def web_store(request: pytest.FixtureRequest) -> Store:
    return store_on(request)


@pytest.fixture
def viewer(users: dict[str, str]) -> dict[str, str]:
    return basic("viewer", users["viewer"])


def seed(store: Store) -> str:
    """A producer of a and b whose try succeeded, and a consumer of a with the run that made; its run id."""
    producer(store, outlets=(A, B))
    consumer(store, A)
    succeed(store)
    run = store.create_dataset_triggered_run("consumer", A, LATER + timedelta(minutes=1))
    assert run is not None
    return run.run_id


def test_datasets_list_with_their_consumers_and_producers(client: FlaskClient, viewer: dict[str, str],
                                                          web_store: Store) -> None:
    seed(web_store)
    body = client.get(f"{API}/datasets", headers=viewer).get_json()
    assert body["total_entries"] == 2 and [d["uri"] for d in body["datasets"]] == ["s3://lake/a", "s3://lake/b"]
    first = body["datasets"][0]
    assert set(first) == {"id", "uri", "extra", "created_at", "updated_at", "consuming_dags", "producing_tasks"}
    assert [c["dag_id"] for c in first["consuming_dags"]] == ["consumer"]
    assert [(p["dag_id"], p["task_id"]) for p in first["producing_tasks"]] == [("producer", "make")]
    only_b = client.get(f"{API}/datasets?uri_pattern=/b&order_by=-uri", headers=viewer).get_json()
    assert [d["uri"] for d in only_b["datasets"]] == ["s3://lake/b"] and only_b["total_entries"] == 1


def test_dataset_events_list_with_the_runs_they_created(client: FlaskClient, viewer: dict[str, str],
                                                        web_store: Store) -> None:
    run_id = seed(web_store)
    body = client.get(f"{API}/datasets/events?source_dag_id=producer", headers=viewer).get_json()
    assert body["total_entries"] == 2
    by_uri = {e["dataset_uri"]: e for e in body["dataset_events"]}
    event = by_uri["s3://lake/a"]
    assert (event["source_dag_id"], event["source_task_id"], event["source_run_id"], event["source_map_index"]) == (
        "producer", "make", "manual__0", -1)
    assert [(r["dag_id"], r["run_id"]) for r in event["created_dagruns"]] == [("consumer", run_id)]
    assert by_uri["s3://lake/b"]["created_dagruns"] == []
    dataset_id = event["dataset_id"]
    one = client.get(f"{API}/datasets/events?dataset_id={dataset_id}", headers=viewer).get_json()
    assert [e["dataset_uri"] for e in one["dataset_events"]] == ["s3://lake/a"]


def test_unknown_parameters_and_orders_are_a_400(client: FlaskClient, viewer: dict[str, str]) -> None:
    assert client.get(f"{API}/datasets?nope=1", headers=viewer).status_code == 400
    assert client.get(f"{API}/datasets/events?order_by=uri", headers=viewer).status_code == 400
    assert client.get(f"{API}/datasets/events?dataset_id=x", headers=viewer).status_code == 400


def test_dataset_events_carry_the_extra_their_producer_set(client: FlaskClient, viewer: dict[str, str],
                                                           web_store: Store) -> None:
    producer(web_store, outlets=(A, B))
    key = running(web_store)
    assert web_store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished",
                                outlet_extra={"s3://lake/a": {"rows": 3}})
    body = client.get(f"{API}/datasets/events", headers=viewer).get_json()
    assert {e["dataset_uri"]: e["extra"] for e in body["dataset_events"]} == {"s3://lake/a": {"rows": 3},
                                                                              "s3://lake/b": {}}
