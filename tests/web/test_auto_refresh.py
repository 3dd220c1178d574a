"""Grid, graph and run pages refresh their states by themselves while runs are queued or running
(Airflow's grid auto-refresh), with an on/off toggle that is remembered; finished runs are left alone."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from tests.web.conftest import wait_until
from tests.web.webdata import Seeded

BASE = "/dags/example_task_groups"


def q(text: str) -> str:
    return quote(text, safe="")


def toggle_of(client: FlaskClient, url: str) -> dict[str, str]:
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'<[^>]*id="auto-refresh"[^>]*>', page)
    assert found, f"no auto-refresh toggle on {url}"
    return dict(re.findall(r'(data-[\w-]+)="([^"]*)"', found.group(0)))


def test_pages_of_an_active_run_ask_to_refresh_and_finished_ones_do_not(admin_client: FlaskClient,
                                                                        seeded: Seeded) -> None:
    running, failed = q(seeded.running_run.run_id), q(seeded.failed_run.run_id)
    assert toggle_of(admin_client, f"{BASE}/grid")["data-active"] == "true"
    assert toggle_of(admin_client, f"{BASE}/graph?run_id={running}")["data-active"] == "true"
    assert toggle_of(admin_client, f"{BASE}/graph?run_id={failed}")["data-active"] == "false"
    assert toggle_of(admin_client, f"{BASE}/runs/{running}")["data-active"] == "true"
    assert toggle_of(admin_client, f"{BASE}/runs/{failed}")["data-active"] == "false"


# --- in a browser ----------------------------------------------------------------------------------------

def finish_crm_fetch(store: Store, seeded: Seeded) -> None:
    key = TaskInstanceKey(seeded.dag_id, seeded.running_run.run_id, "crm.fetch")
    assert store.set_task_state(key, "running", "success")


def test_the_grid_shows_a_task_finishing_without_a_reload(admin_tab: Any, web_store: Store, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/grid")
    cell = 'tr[data-node="crm.fetch"] td:last-child a'
    assert admin_tab.get_attribute(cell, "data-state") == "running"
    assert admin_tab.is_checked("#auto-refresh-toggle")
    admin_tab.evaluate("() => { window.notReloaded = true; }")
    finish_crm_fetch(web_store, seeded)
    wait_until(admin_tab, "() => document.querySelector('tr[data-node=\"crm.fetch\"] td:last-child a')"
                          ".dataset.state === 'success'")
    assert admin_tab.evaluate("() => window.notReloaded === true")


def test_the_graph_and_run_pages_follow_their_running_run(admin_tab: Any, web_store: Store,
                                                          seeded: Seeded) -> None:
    run = q(seeded.running_run.run_id)
    admin_tab.goto(f"{BASE}/graph?run_id={run}")
    admin_tab.wait_for_selector('svg.dag-graph g.node[data-id="crm.fetch"][data-state="running"]')
    finish_crm_fetch(web_store, seeded)
    wait_until(admin_tab, "() => !!document.querySelector('svg.dag-graph g.node[data-id=\"crm.fetch\"]"
                          "[data-state=\"success\"]')")
    admin_tab.goto(f"{BASE}/runs/{run}")
    key = TaskInstanceKey(seeded.dag_id, seeded.running_run.run_id, "billing.fetch")
    assert web_store.claim_queued_task(key, "worker-1", 7, seeded.running_run.logical_date)
    wait_until(admin_tab, "() => document.querySelector('#run-tis tr[data-task-id=\"billing.fetch\"]')"
                          ".dataset.state === 'running'")


def test_turning_auto_refresh_off_is_remembered(admin_tab: Any, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/grid")
    admin_tab.uncheck("#auto-refresh-toggle")
    admin_tab.reload()
    assert not admin_tab.is_checked("#auto-refresh-toggle")
    admin_tab.check("#auto-refresh-toggle")
    admin_tab.reload()
    assert admin_tab.is_checked("#auto-refresh-toggle")
