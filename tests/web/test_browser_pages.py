"""Home, browse, admin and timeline pages in headless Chromium against a real server thread.

Proves what only a browser can: the login form, clicking the pause toggle,
ticking rows and confirming a bulk action, the dark-mode toggle, and the
timeline chart drawn by ECharts from the JSON API (with no request leaving
127.0.0.1: the UI works offline).
"""
from __future__ import annotations

from typing import Any

import pytest

from flowctl.db.store import Store
from tests.web.conftest import browser_login
from tests.web.webdata import Seeded


@pytest.fixture
def user_tab(page: Any, users: dict[str, str], seeded: Seeded) -> Any:
    browser_login(page, "user", users["user"])
    return page


def test_a_wrong_password_stays_on_the_login_form(page: Any, users: dict[str, str]) -> None:
    page.goto("/login")
    page.fill("#username", "user")
    page.fill("#password", "not-it-at-all")
    page.click("button[type=submit]")
    assert "Wrong username or password" in page.inner_text("main")


def test_home_shows_the_dag_with_its_latest_run_state_and_counts(user_tab: Any, seeded: Seeded) -> None:
    row = user_tab.locator(f'tr[data-dag-id="{seeded.dag_id}"]')
    assert row.locator(".state-running").first.inner_text() == "running"
    assert row.locator("a.count.state-success").inner_text() == "1"
    assert row.locator("a.count.state-queued").inner_text() == "1"


def test_clicking_the_pause_toggle_pauses_the_dag(user_tab: Any, seeded: Seeded, web_store: Store) -> None:
    user_tab.click(f'tr[data-dag-id="{seeded.dag_id}"] button.switch')
    user_tab.wait_for_selector(".flash-success")
    assert web_store.get_dag(seeded.dag_id).is_paused is True
    toggle = user_tab.locator(f'tr[data-dag-id="{seeded.dag_id}"] button.switch')
    assert toggle.get_attribute("aria-checked") == "false"


def test_a_confirmed_bulk_clear_of_ticked_rows_changes_the_database(user_tab: Any, seeded: Seeded,
                                                                    web_store: Store) -> None:
    user_tab.goto(f"/browse/task-instances?dag_id={seeded.dag_id}&state=upstream_failed")
    assert user_tab.locator("#task-instances tbody tr").count() == 2
    clear = user_tab.locator('button[value="clear"]')
    assert clear.is_disabled()
    user_tab.check('th input[data-select-all="ti"]')
    assert not clear.is_disabled()
    messages: list[str] = []
    user_tab.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    clear.click()
    user_tab.wait_for_selector(".flash-success")
    assert messages and "Clear" in messages[0]
    states = {t.task_id: t.state for t in web_store.list_task_instances(seeded.failed_run.key)}
    assert states["merge"] == states["web.clean"] == "pending"


def test_dismissing_the_confirmation_changes_nothing(user_tab: Any, seeded: Seeded, web_store: Store) -> None:
    user_tab.goto(f"/browse/runs?dag_id={seeded.dag_id}&state=running")
    user_tab.check('th input[data-select-all="run"]')
    user_tab.once("dialog", lambda dialog: dialog.dismiss())
    user_tab.click('button[value="kill_runs"]')
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "running"


def test_the_theme_toggle_switches_to_dark_and_is_remembered(user_tab: Any) -> None:
    user_tab.emulate_media(color_scheme="light")
    user_tab.click("#theme-toggle")
    assert user_tab.evaluate("document.documentElement.dataset.theme") == "dark"
    background = user_tab.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 25)"
    user_tab.reload()
    assert user_tab.evaluate("document.documentElement.dataset.theme") == "dark"


def test_the_timeline_draws_every_try_of_the_window_offline(user_tab: Any, seeded: Seeded,
                                                             live_server: str) -> None:
    foreign: list[str] = []
    user_tab.on("request", lambda r: None if r.url.startswith(live_server) else foreign.append(r.url))
    day = seeded.failed_run.logical_date
    user_tab.goto(f"/timeline?start={day.strftime('%Y-%m-%dT%H:%M')}&end={day.strftime('%Y-%m-%d')}T23:00")
    user_tab.wait_for_selector("#timeline-chart canvas")
    rows = user_tab.evaluate("echarts.getInstanceByDom(document.getElementById('timeline-chart'))"
                             ".getOption().yAxis[0].data")
    assert sorted(rows) == sorted(f"{seeded.dag_id}.{t}" for t in
                                  ("start", "crm.fetch", "crm.clean", "billing.fetch", "billing.clean", "web.fetch"))
    assert foreign == []


def test_an_op_adds_a_pool_through_the_form(page: Any, users: dict[str, str], web_store: Store) -> None:
    browser_login(page, "op", users["op"])
    page.goto("/admin/pools")
    page.fill('input[name="pool"]', "gpu")
    page.fill('input[name="slots"]', "2")
    page.click("text=Save pool")
    page.wait_for_selector('tr[data-pool="gpu"]')
    assert web_store.get_pool("gpu").slots == 2
