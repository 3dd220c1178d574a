"""The Datasets pages: the list, one dataset with its events and their extras, 404s, login and access_control."""
from __future__ import annotations

import re
from datetime import timedelta

from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.web.links import run_url
from tests.db.samples import T0
from tests.db.test_datasets import LATER, SUCCESS, A, B, consumer, producer, running

SECRET_EXTRA = {"note": "<script>alert(1)</script>", "rows": 7}


def seed(store: Store) -> str:
    """Producer ``make`` of a and b succeeded once with an extra for a; consumer of a ran from it; its run id."""
    producer(store, outlets=(A, B))
    consumer(store, A)
    key = running(store)
    assert store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished",
                            outlet_extra={A.uri: SECRET_EXTRA})
    run = store.create_dataset_triggered_run("consumer", A, LATER + timedelta(minutes=1))
    assert run is not None
    return run.run_id


def dataset_id(store: Store, uri: str) -> int:
    return next(d.id for d in store.dataset_page().items if d.uri == uri)


def test_the_datasets_page_lists_each_dataset_with_its_producers_consumers_and_events(
        viewer_client: FlaskClient, web_store: Store) -> None:
    seed(web_store)
    response = viewer_client.get("/datasets")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    assert len(rows) == 2 and "s3://lake/a" in rows[0] and "s3://lake/b" in rows[1]
    assert f'href="/datasets/{dataset_id(web_store, A.uri)}"' in rows[0]
    assert "producer</a>.make" in rows[0] and 'href="/dags/consumer' in rows[0]
    assert "<td>1</td>" in rows[0] and "2024" in rows[0]  # one event, and when
    assert "1–2 of 2" in body


def test_the_datasets_page_narrows_by_uri_and_pages(viewer_client: FlaskClient, web_store: Store) -> None:
    seed(web_store)
    narrowed = viewer_client.get("/datasets?uri=/b").get_data(as_text=True)
    assert "s3://lake/b" in narrowed and "s3://lake/a" not in narrowed
    second = viewer_client.get("/datasets?page=2&page_size=1").get_data(as_text=True)
    assert "s3://lake/b" in second and "s3://lake/a" not in second and "2–2 of 2" in second
    assert "No datasets match." in viewer_client.get("/datasets?uri=nothing").get_data(as_text=True)


def test_a_dataset_page_shows_its_events_with_source_links_extra_and_the_runs_they_triggered(
        viewer_client: FlaskClient, web_store: Store) -> None:
    run_id = seed(web_store)
    response = viewer_client.get(f"/datasets/{dataset_id(web_store, A.uri)}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    events = body.split('id="dataset-events"')[1]
    assert 'href="/dags/producer/runs/manual__0"' in events  # the source run
    assert "/tasks/make" in events
    assert f'href="{run_url("consumer", run_id)}"' in events  # the run the event triggered
    assert "&#34;rows&#34;: 7" in events or "&quot;rows&quot;: 7" in events
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in events


def test_a_dataset_without_events_says_so(viewer_client: FlaskClient, web_store: Store) -> None:
    producer(web_store, outlets=(B,))
    body = viewer_client.get(f"/datasets/{dataset_id(web_store, B.uri)}").get_data(as_text=True)
    assert "No events recorded." in body and "never" in body


def test_an_unknown_dataset_id_is_a_404(viewer_client: FlaskClient, web_store: Store) -> None:
    assert viewer_client.get("/datasets/12345").status_code == 404
    assert viewer_client.get(f"/datasets/{2**40}").status_code == 404
    assert viewer_client.get("/datasets/not-a-number").status_code == 404


def test_the_datasets_pages_need_a_login(client: FlaskClient, web_store: Store) -> None:
    seed(web_store)
    for url in ("/datasets", f"/datasets/{dataset_id(web_store, A.uri)}"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_the_datasets_page_is_in_the_top_navigation(viewer_client: FlaskClient) -> None:
    assert 'href="/datasets"' in viewer_client.get("/browse/runs").get_data(as_text=True)


def test_what_a_hidden_dag_produced_is_left_out_for_roles_it_does_not_name(
        viewer_client: FlaskClient, admin_client: FlaskClient, web_store: Store) -> None:
    web_store.sync_dag({"dag_id": "secret", "is_paused_upon_creation": False, "access_control": {"Op": ["can_read"]},
                        "tasks": [{"task_id": "make", "upstream_task_ids": [], "outlets": [A.as_json()]}]},
                       "/dags/secret.py", T0)
    key = running(web_store, dag_id="secret")
    assert web_store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished",
                                outlet_extra={A.uri: {"who": "secret-extra"}})
    url = f"/datasets/{dataset_id(web_store, A.uri)}"
    for page in ("/datasets", url):
        assert "secret" not in viewer_client.get(page).get_data(as_text=True)
    assert "No events recorded." in viewer_client.get(url).get_data(as_text=True)
    assert "secret-extra" in admin_client.get(url).get_data(as_text=True)


def test_the_datasets_page_lists_each_alias_with_the_datasets_it_resolved_to_and_its_consumers(
        viewer_client: FlaskClient, web_store: Store) -> None:
    from flowctl.datasets import DatasetAlias
    from tests.db.test_dataset_aliases import added, alias_producer, succeed_adding

    alias_producer(web_store, outlets=({"alias": "orders"}, {"alias": "pending"}))
    consumer(web_store, DatasetAlias("orders"), dag_id="on_alias")
    succeed_adding(web_store, added("s3://lake/x", {"rows": 1}))
    body = viewer_client.get("/datasets").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", body.split('id="dataset-aliases"')[1], re.S)[1:]
    assert len(rows) == 2 and "orders" in rows[0] and "pending" in rows[1]
    assert f'href="/datasets/{dataset_id(web_store, "s3://lake/x")}">s3://lake/x</a>' in rows[0]
    assert 'href="/dags/on_alias' in rows[0] and "unresolved" in rows[1]
    assert 'id="dataset-aliases"' not in viewer_client.get("/datasets?uri=nothing").get_data(as_text=True)
    assert 'id="dataset-aliases"' not in viewer_client.get("/datasets?page=2&page_size=1").get_data(as_text=True)
