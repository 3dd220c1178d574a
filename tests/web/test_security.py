"""CSRF refusal, viewers cannot act, HTML injection is escaped, logins are rate limited, headers."""
from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient

from flowctl.db.store import Store
from flowctl.web.auth import login_blocked
from flowctl.web.security import csrf_ok
from tests.web.conftest import Clock, csrf_of, login, post
from tests.web.webdata import Seeded


def test_a_post_without_the_csrf_token_is_refused(user_client: FlaskClient, seeded: Seeded,
                                                  web_store: Store) -> None:
    response = user_client.post(f"/dags/{seeded.dag_id}/pause", data={"is_paused": "true"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert web_store.get_dag(seeded.dag_id).is_paused is False


def test_a_post_with_another_sessions_token_is_refused(user_client: FlaskClient, viewer_client: FlaskClient,
                                                       seeded: Seeded) -> None:
    foreign = csrf_of(viewer_client)
    response = user_client.post(f"/dags/{seeded.dag_id}/pause", data={"csrf_token": foreign})
    assert response.status_code == 400


def test_the_login_form_itself_needs_the_csrf_token(client: FlaskClient, users: dict[str, str]) -> None:
    response = client.post("/login", data={"username": "admin", "password": users["admin"]})
    assert response.status_code == 400


def test_csrf_tokens_compare_only_when_both_are_present() -> None:
    assert csrf_ok("abc", "abc")
    assert not csrf_ok("abc", "abd")
    assert not csrf_ok(None, None)
    assert not csrf_ok("", "")


def test_a_viewer_cannot_act(viewer_client: FlaskClient, seeded: Seeded, web_store: Store) -> None:
    ti = json.dumps([seeded.dag_id, seeded.failed_run.run_id, "web.fetch", -1])
    run = json.dumps([seeded.dag_id, seeded.running_run.run_id])
    attempts = [
        (f"/dags/{seeded.dag_id}/pause", {"is_paused": "true"}),
        ("/browse/task-instances/action", {"action": "clear", "ti": ti}),
        ("/browse/runs/action", {"action": "kill_runs", "run": run}),
        ("/admin/variables", {"key": "k", "val": "v"}),
        ("/admin/pools", {"pool": "p", "slots": "3"}),
        ("/admin/users", {"username": "eve", "password": "long-enough-1", "role": "Admin"}),
    ]
    for url, data in attempts:
        assert post(viewer_client, url, data).status_code == 403, url
    assert web_store.get_dag(seeded.dag_id).is_paused is False
    assert web_store.get_run(seeded.dag_id, seeded.running_run.run_id).state == "running"
    assert [p.name for p in web_store.list_pools()] == ["default_pool"]
    assert [u.username for u in web_store.list_users()] == ["admin", "op", "user", "viewer"]


def test_a_user_acts_on_dags_but_cannot_manage_config_or_users(user_client: FlaskClient, seeded: Seeded) -> None:
    assert post(user_client, f"/dags/{seeded.dag_id}/pause", {"is_paused": "true"}).status_code == 302
    assert post(user_client, "/admin/variables", {"key": "k", "val": "v"}).status_code == 403
    assert user_client.get("/admin/users").status_code == 403


def test_html_in_ids_conf_and_values_shows_as_text(admin_client: FlaskClient, web_store: Store,
                                                   seeded: Seeded) -> None:
    evil = "<script>alert(1)</script>"
    web_store.set_variable("note", evil, description=f"<b>{evil}</b>")
    web_store.audit("custom", now=seeded.running_run.logical_date, source="cli", owner=evil, extra=evil)
    for url in ("/admin/variables", "/audit", f"/?search={evil}"):
        body = admin_client.get(url).get_data(as_text=True)
        assert evil not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url


def test_logins_are_rate_limited_per_username_and_address(client: FlaskClient, users: dict[str, str],
                                                          clock: Clock) -> None:
    for _ in range(5):
        assert login(client, "viewer", "wrong-password").status_code == 401
    response = login(client, "viewer", users["viewer"])
    assert response.status_code == 429
    assert "Too many failed logins" in response.get_data(as_text=True)
    assert login(client, "user", users["user"]).status_code == 302  # another username is not blocked
    clock.advance(seconds=301)
    fresh = client.application.test_client()
    assert login(fresh, "viewer", users["viewer"]).status_code == 302


def test_login_is_blocked_once_failures_reach_the_limit() -> None:
    assert not login_blocked(4, 5)
    assert login_blocked(5, 5)


def test_pages_send_security_headers(admin_client: FlaskClient) -> None:
    headers = admin_client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    script_src = [d.strip() for d in headers["Content-Security-Policy"].split(";") if d.strip().startswith("script-src")]
    assert script_src == ["script-src 'self'"]  # no inline script: an injected one, or a javascript: link, cannot run
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_no_template_needs_inline_script_which_the_policy_forbids() -> None:
    templates = Path(__file__).parents[2] / "flowctl" / "web" / "templates"
    for page in templates.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), f"{page.name} has an inline event handler"
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, f"{page.name} has an inline script: {tag}"
