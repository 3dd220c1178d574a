"""The SLA misses page: lists recorded misses, needs a login, is linked from the Browse menu."""
from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.scheduler.sla import SlaMiss
from tests.web.webdata import Seeded


def test_the_sla_misses_page_lists_each_miss_with_its_notification(viewer_client: FlaskClient, seeded: Seeded,
                                                                    web_store: Store) -> None:
    run = seeded.failed_run
    recorded = web_store.record_sla_misses([SlaMiss(seeded.dag_id, t, run.run_id, run.logical_date)
                                            for t in seeded.task_ids[:2]], run.logical_date + timedelta(days=1))
    web_store.mark_sla_misses_notified([recorded[0].id])
    response = viewer_client.get("/browse/sla-misses")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    for task_id in seeded.task_ids[:2]:
        assert f"/tasks/{task_id}\"" in body
    assert body.count("<td>yes</td>") == 1 and body.count("<td>no</td>") == 1
    assert "1–2 of 2" in body
    assert "nothing found" in viewer_client.get("/browse/sla-misses?dag_id=elsewhere").get_data(as_text=True)


def test_the_sla_misses_page_is_in_the_browse_menu(viewer_client: FlaskClient) -> None:
    assert 'href="/browse/sla-misses"' in viewer_client.get("/browse/runs").get_data(as_text=True)


def test_the_sla_misses_page_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/browse/sla-misses")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
