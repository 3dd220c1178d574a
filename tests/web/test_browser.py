"""The DAG pages in headless Chromium (Playwright) against a real server thread, with real runs in the DB.

Logs in through the form, checks that every per-DAG view draws the right tasks
and states (the graph and charts are drawn by JavaScript, so only a browser
proves them), that actions done by clicking change the database, and saves
screenshots of the graph, grid and Gantt views for the README into
``flowctl/web/static/screenshots/``.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from flowctl.db.store import Store
from tests.web.conftest import browser_login
from tests.web.webdata import Seeded

SHOTS = Path(__file__).resolve().parents[2] / "flowctl" / "web" / "static" / "screenshots"
BASE = "/dags/example_task_groups"


def q(text: str) -> str:
    return quote(text, safe="")


def shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def admin_tab(page: Any, users: dict[str, str], seeded: Seeded) -> Any:
    browser_login(page, "admin", users["admin"])
    return page


@pytest.fixture
def user_tab(page: Any, users: dict[str, str], seeded: Seeded) -> Any:
    browser_login(page, "user", users["user"])
    return page


def staggered_run(store: Store, dag_id: str, day: int, fail: str | None = None, slower: int = 1) -> Any:
    """A run whose tasks ran one after another (each after its upstream), as a scheduler would leave it;
    each ``slower`` times as long."""
    from flowctl.core.keys import TaskInstanceKey
    from tests.web.webdata import finish_run, make_run

    run = make_run(store, dag_id, day)
    data = store.latest_serialized_dag(dag_id).data
    ends: dict[str, Any] = {}
    pending = list(data["tasks"])
    while pending:
        task = next(t for t in pending if set(t["upstream_task_ids"]) <= ends.keys())
        pending.remove(task)
        task_id = task["task_id"]
        if any(ends[u] is None for u in task["upstream_task_ids"]):
            assert store.set_task_state(TaskInstanceKey(dag_id, run.run_id, task_id), "pending", "upstream_failed")
            ends[task_id] = None
            continue
        ready = max((ends[u] for u in task["upstream_task_ids"]), default=run.logical_date)
        key = TaskInstanceKey(dag_id, run.run_id, task_id)
        queued = ready + timedelta(seconds=2) * slower
        start = queued + timedelta(seconds=3 + len(task_id) % 4) * slower
        end = start + timedelta(seconds=10 + 7 * (len(task_id) % 5)) * slower
        assert store.set_task_state(key, "pending", "scheduled")
        assert store.set_task_state(key, "scheduled", "queued", queued_at=queued)
        assert store.claim_queued_task(key, "worker-1", 100, start)
        state = "failed" if task_id == fail else "success"
        assert store.set_task_state(key, "running", state, end_date=end, duration=(end - start).total_seconds())
        ends[task_id] = end if state == "success" else None
    return finish_run(store, run, "failed" if fail else "success", run.logical_date)


def node_states(tab: Any) -> dict[str, str]:
    return tab.eval_on_selector_all("svg.dag-graph g.node", "ns => Object.fromEntries(ns.map("
                                    "n => [n.dataset.id, n.dataset.state]))")


def test_the_graph_draws_every_task_coloured_by_the_chosen_run(admin_tab: Any, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/graph?run_id={q(seeded.failed_run.run_id)}")
    admin_tab.wait_for_selector("svg.dag-graph g.node")
    states = node_states(admin_tab)
    assert set(states) == set(seeded.task_ids)
    assert states["web.fetch"] == "failed" and states["merge"] == "upstream_failed" and states["start"] == "success"
    assert admin_tab.locator("svg.dag-graph g.cluster").count() == 3
    assert admin_tab.locator("svg.dag-graph path.edge").count() == 9
    shot(admin_tab, "graph")


def test_every_graph_node_is_wide_enough_for_its_name_and_operator(admin_tab: Any, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/graph?run_id={q(seeded.failed_run.run_id)}")
    admin_tab.wait_for_selector("svg.dag-graph g.node")
    overflowing = admin_tab.eval_on_selector_all("svg.dag-graph g.node", """ns => ns.filter(n => {
        const box = n.querySelector("rect.node-box").width.baseVal.value;
        return [...n.querySelectorAll("text")].some(t => t.getBBox().x + t.getBBox().width > box); })
      .map(n => n.getAttribute("data-id"))""")
    assert overflowing == []


def test_the_graph_writes_each_label_on_its_edge(admin_tab: Any, web_store: Store) -> None:
    from tests.web.webdata import EXAMPLE_FILE, sync_example

    sync_example(web_store, EXAMPLE_FILE.with_name("example_branching.py"))  # pick >> Label("weekday") >> ...
    admin_tab.goto("/dags/example_branching/graph")
    admin_tab.wait_for_selector("svg.dag-graph text.edge-label")
    labels = admin_tab.eval_on_selector_all("svg.dag-graph text.edge-label", """ts => ts.map(t =>
        [t.getAttribute("data-from"), t.getAttribute("data-to"), t.textContent])""")
    assert sorted(labels) == [["pick_report", "full_report", "on a weekday"],
                              ["pick_report", "weekend_report", "on a weekend"]]


def test_a_task_group_collapses_to_one_node_and_expands_again(admin_tab: Any, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/graph?run_id={q(seeded.failed_run.run_id)}")
    admin_tab.wait_for_selector("svg.dag-graph g.cluster[data-group=web]")
    admin_tab.click("svg.dag-graph g.cluster[data-group=web] text")
    group = admin_tab.locator('svg.dag-graph g.node.group[data-id="web"]')
    assert group.get_attribute("data-state") == "failed"
    assert "web.fetch" not in node_states(admin_tab)
    group.click()
    admin_tab.wait_for_selector('svg.dag-graph g.node[data-id="web.fetch"]')


def test_choosing_another_run_in_the_picker_shows_that_run(admin_tab: Any, seeded: Seeded) -> None:
    # The picker submits from flowctl.js: the Content-Security-Policy runs no inline onchange.
    admin_tab.goto(f"{BASE}/graph?run_id={q(seeded.failed_run.run_id)}")
    admin_tab.select_option("#run-picker", seeded.success_run.run_id)
    admin_tab.wait_for_url(f"**/graph?run_id={q(seeded.success_run.run_id)}")
    admin_tab.wait_for_selector("svg.dag-graph g.node")
    assert node_states(admin_tab)["web.fetch"] == "success"


def test_clicking_a_graph_node_opens_that_runs_task_instance(admin_tab: Any, seeded: Seeded) -> None:
    run_id = seeded.failed_run.run_id
    admin_tab.goto(f"{BASE}/graph?run_id={q(run_id)}")
    admin_tab.click('svg.dag-graph g.node[data-id="web.fetch"]')
    admin_tab.wait_for_url(f"**/runs/{q(run_id)}/tasks/web.fetch")
    assert admin_tab.inner_text("#ti-task-id") == "web.fetch"
    assert "failed" in admin_tab.inner_text("#ti-details")


def test_the_grid_shows_states_by_run_and_collapses_groups(admin_tab: Any, web_store: Store, seeded: Seeded) -> None:
    admin_tab.goto(f"{BASE}/grid")
    cells = admin_tab.locator('tr[data-node="web.fetch"] a.cell')
    assert [cells.nth(i).get_attribute("data-state") for i in range(cells.count())] == ["success", "failed", "pending"]
    assert admin_tab.eval_on_selector('tr[data-node="web.fetch"] a.cell.state-failed',
                                      "c => getComputedStyle(c).backgroundColor") != "rgba(0, 0, 0, 0)"
    for day in range(-30, -10):
        staggered_run(web_store, seeded.dag_id, day, fail="web.fetch" if day % 7 == 0 else None)
    admin_tab.goto(f"{BASE}/grid")
    running = admin_tab.locator('tr[data-node="crm.fetch"] a.cell').last.get_attribute("data-state")
    assert running == "running" and admin_tab.locator("a.run-bar").count() == 23
    shot(admin_tab, "grid")
    admin_tab.click('button.toggle[data-group="crm"]')
    assert admin_tab.locator('tr[data-node="crm.fetch"]').is_hidden()
    admin_tab.click('button.toggle[data-group="crm"]')
    assert admin_tab.locator('tr[data-node="crm.fetch"]').is_visible()


def test_the_gantt_draws_a_bar_per_try(admin_tab: Any, web_store: Store, seeded: Seeded) -> None:
    run = staggered_run(web_store, seeded.dag_id, 1, fail="web.fetch")
    admin_tab.goto(f"{BASE}/gantt?run_id={q(run.run_id)}")
    admin_tab.wait_for_selector("#gantt svg path, #gantt svg rect")
    rows = admin_tab.locator("#gantt-table tbody tr")
    tasks = {rows.nth(i).get_attribute("data-task") for i in range(rows.count())}
    assert tasks == {"start", "crm.fetch", "crm.clean", "billing.fetch", "billing.clean", "web.fetch"}
    assert admin_tab.locator("#gantt svg").count() == 1
    shot(admin_tab, "gantt")


def test_the_gantt_axis_names_the_day_when_a_run_spans_several(admin_tab: Any, web_store: Store,
                                                                seeded: Seeded) -> None:
    label = ("(t) => echarts.getInstanceByDom(document.getElementById('gantt')).getOption()"
             ".xAxis[0].axisLabel.formatter(Date.parse(t))")
    short = staggered_run(web_store, seeded.dag_id, 2)
    admin_tab.goto(f"{BASE}/gantt?run_id={q(short.run_id)}")
    admin_tab.wait_for_selector("#gantt svg path, #gantt svg rect")
    assert admin_tab.evaluate(label, "2024-01-03T05:06:07Z") == "05:06:07"  # a run within one day: times
    long = staggered_run(web_store, seeded.dag_id, 3, slower=2000)  # its tasks run for hours, over two days
    admin_tab.goto(f"{BASE}/gantt?run_id={q(long.run_id)}")
    admin_tab.wait_for_selector("#gantt svg path, #gantt svg rect")
    assert admin_tab.evaluate(label, "2024-01-04T05:06:07Z") == "01-04 05:06:07"


def test_the_charts_and_calendar_render(admin_tab: Any, seeded: Seeded) -> None:
    for view in ("duration", "landing-times", "calendar?year=2024"):
        admin_tab.goto(f"{BASE}/{view}")
        admin_tab.wait_for_selector(".chart svg")
    assert admin_tab.locator("#calendar-table tbody tr").count() == 3


def test_the_overview_code_and_run_pages_show_the_dag(admin_tab: Any, seeded: Seeded) -> None:
    admin_tab.goto(BASE)
    assert admin_tab.locator(f'#recent-runs tr[data-run-id="{seeded.running_run.run_id}"]').count() == 1
    admin_tab.goto(f"{BASE}/code")
    assert "TaskGroup" in admin_tab.inner_text("#dag-code")
    admin_tab.goto(f"{BASE}/runs/{q(seeded.failed_run.run_id)}")
    assert admin_tab.locator('#run-tis tr[data-state="upstream_failed"]').count() == 2


def test_triggering_from_the_form_creates_a_run(user_tab: Any, web_store: Store, seeded: Seeded) -> None:
    user_tab.on("dialog", lambda dialog: dialog.accept())
    user_tab.goto(f"{BASE}/trigger")
    user_tab.fill("#conf", '{"from": "browser"}')
    user_tab.click("#trigger-form details summary")
    user_tab.fill("#run_id", "from_browser")
    user_tab.click("#trigger-submit")
    user_tab.wait_for_url("**/runs/from_browser")
    assert web_store.get_run(seeded.dag_id, "from_browser").conf == {"from": "browser"}


def test_clearing_a_failed_task_from_its_page_after_confirming(user_tab: Any, web_store: Store,
                                                               seeded: Seeded) -> None:
    run = seeded.failed_run
    user_tab.goto(f"{BASE}/runs/{q(run.run_id)}/tasks/web.fetch")
    user_tab.click("#ti-clear-btn")
    user_tab.wait_for_selector("#confirm")
    assert web_store.get_task_instance(_key(run, "web.fetch")).state == "failed"
    user_tab.click("#confirm-btn")
    user_tab.wait_for_url(f"**/tasks/web.fetch")
    assert web_store.get_task_instance(_key(run, "web.fetch")).state == "pending"


def test_marking_a_run_success_from_the_grid(user_tab: Any, web_store: Store, seeded: Seeded) -> None:
    run = seeded.failed_run
    user_tab.goto(f"{BASE}/grid?run_id={q(run.run_id)}")
    user_tab.click("#mark-run-success-btn")
    user_tab.click("#confirm-btn")
    user_tab.wait_for_url("**/grid**")
    assert web_store.get_run(run.dag_id, run.run_id).state == "success"


def test_a_viewer_sees_no_action_buttons(page: Any, users: dict[str, str], seeded: Seeded) -> None:
    browser_login(page, "viewer", users["viewer"])
    page.goto(f"{BASE}/runs/{q(seeded.failed_run.run_id)}/tasks/web.fetch")
    assert page.locator("#ti-clear-btn").count() == 0 and page.locator("#trigger-btn").count() == 0


def _key(run: Any, task_id: str) -> Any:
    from flowctl.core.keys import TaskInstanceKey

    return TaskInstanceKey(run.dag_id, run.run_id, task_id)
