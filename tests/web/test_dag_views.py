"""The per-DAG read pages through the test client, on the example DAG with real runs in several states."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.xcom_values import TYPE_KEY, encode_xcom_value
from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.web.dag_model import STATE_PRIORITY, calendar_days, grid_rows, summary_state
from flowctl.web.formatting import format_xcom, to_json
from flowctl.web.markdown_docs import render_markdown, safe_url
from flowctl.web.trigger_form import conf_from_form, param_fields, recent_confs
from tests.web.conftest import Clock
from tests.web.webdata import Seeded, drive, make_run, sync_example

BASE = "/dags/example_task_groups"


def _text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined]


def q(text: str) -> str:
    """A run id as it appears in a URL."""
    return quote(text, safe="")


def _json_block(html: str, element_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert found, f"no #{element_id} in the page"
    return json.loads(found.group(1))


# --- pure pieces -------------------------------------------------------------------------------------

def test_summary_state_picks_the_most_urgent_state() -> None:
    assert summary_state(["success", "failed", "running"]) == "failed"
    assert summary_state(["success", "skipped"]) == "skipped"
    assert summary_state([None, None]) is None
    assert STATE_PRIORITY[0] == "failed"


def test_grid_rows_follow_the_task_group_tree_with_one_state_per_run(web_store: Store, seeded: Seeded) -> None:
    data = web_store.latest_serialized_dag(seeded.dag_id).data
    run_ids = [seeded.success_run.run_id, seeded.failed_run.run_id]
    rows = grid_rows(data, run_ids, web_store.task_cells(seeded.dag_id, run_ids))
    by_id = {r.node_id: r for r in rows}
    assert [r.node_id for r in rows][:4] == ["start", "crm", "crm.fetch", "crm.clean"]
    assert by_id["crm"].is_group and by_id["crm.fetch"].depth == 1 and by_id["crm.fetch"].label == "fetch"
    assert by_id["web"].states == ("success", "failed")
    assert by_id["merge"].states == ("success", "upstream_failed")


def test_calendar_days_keep_the_worst_state_of_each_day() -> None:
    days = calendar_days([("2024-03-01", "success", 2), ("2024-03-01", "failed", 1), ("2024-03-02", "success", 1)])
    assert days == [{"date": "2024-03-01", "state": "failed", "counts": {"success": 2, "failed": 1}},
                    {"date": "2024-03-02", "state": "success", "counts": {"success": 1}}]


def test_markdown_docs_escape_raw_html_and_drop_script_links() -> None:
    html = str(render_markdown("# Title\n<script>alert(1)</script> [x](javascript:alert(1)) **bold**"))
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert safe_url("https://example.com") and safe_url("docs/page.md") and not safe_url("data:text/html,x")


def test_markdown_links_hiding_a_script_scheme_behind_character_references_are_dropped() -> None:
    for doc in ("[x](javascript&#58;alert(1))", "[x](javascript&colon;alert(1))", "![i](data&#x3A;text/html,x)",
                "[x](java&#x09;script&#x3A;alert(1))", "[x][r]\n\n[r]: javascript&#58;alert(1)",
                "[x](&#106;avascript:alert(1))", "[x]( javascript:alert(1))"):
        html = str(render_markdown(doc))
        assert 'href="#"' in html or 'src="#"' in html, (doc, html)
    assert not safe_url("javascript&#58;alert(1)") and not safe_url("java\tscript:alert(1)")
    assert safe_url("docs/a&amp;b.md") and safe_url("https://example.com/?a=1&amp;b=2")


def test_the_trigger_form_turns_params_into_typed_conf_values() -> None:
    params = {"n": {"value": 3, "has_value": True, "description": "how many", "schema": {"type": "integer"}},
              "flag": {"value": False, "has_value": True, "description": None, "schema": {"type": "boolean"}},
              "mode": {"value": "a", "has_value": True, "description": None, "schema": {"enum": ["a", "b"]}}}
    fields = param_fields(params)
    assert [(f.name, f.kind) for f in fields] == [("n", "integer"), ("flag", "bool"), ("mode", "enum")]
    conf = conf_from_form(fields, {"param.n": "7", "param.flag": "true", "param.mode": "b"}, '{"mode": "a", "x": 1}')
    assert conf == {"n": 7, "flag": True, "mode": "a", "x": 1}


def test_a_plain_param_value_keeps_its_python_type_in_the_trigger_form() -> None:
    # Airflow 2 auto-boxes a plain value into a Param whose type the form takes from the value
    params = {name: {"value": value, "has_value": True, "description": None, "schema": {}}
              for name, value in (("count", 5), ("ratio", 0.5), ("flag", True), ("items", [1]), ("label", "x"))}
    fields = param_fields(params)
    assert [(f.name, f.kind) for f in fields] == [("count", "integer"), ("ratio", "number"), ("flag", "bool"),
                                                  ("items", "json"), ("label", "string")]
    conf = conf_from_form(fields, {f.input_name: f.value for f in fields}, "")
    assert conf == {"count": 5, "ratio": 0.5, "flag": True, "items": [1], "label": "x"}


def test_recent_confs_are_distinct_and_newest_first() -> None:
    extras = ['{"conf": {"a": 2}}', '{"conf": {}}', '{"conf": {"a": 1}}', '{"conf": {"a": 2}}', "not json"]
    assert recent_confs(extras) == ['{\n  "a": 2\n}', '{\n  "a": 1\n}']


# --- pages ---------------------------------------------------------------------------------------------

def test_the_overview_shows_schedule_recent_runs_and_safe_docs(admin_client: FlaskClient, seeded: Seeded) -> None:
    html = _text(admin_client.get(BASE))
    assert "0 6 * * *" in html
    for run in (seeded.success_run, seeded.failed_run, seeded.running_run):
        assert run.run_id in html
    assert 'id="dag-docs"' in html and "trigger-btn" in html


def test_the_overview_shows_the_configured_limits_a_dag_does_not_set(admin_client: FlaskClient,
                                                                     seeded: Seeded) -> None:
    """Before: 'Max active runs / tasks' read '3 /' for a DAG that leaves max_active_tasks to the config."""
    html = admin_client.get(BASE).get_data(as_text=True)
    row = re.search(r"<th>Max active runs / tasks</th><td>(.*?)</td>", html)
    assert row and re.fullmatch(r"\d+ / 16", row.group(1).strip()), row


def test_a_viewer_sees_the_dag_pages_without_action_buttons(viewer_client: FlaskClient, seeded: Seeded) -> None:
    html = _text(viewer_client.get(BASE))
    assert seeded.success_run.run_id in html
    assert "trigger-btn" not in html and "delete-history-btn" not in html


def test_an_unknown_dag_is_404(admin_client: FlaskClient, seeded: Seeded) -> None:
    assert admin_client.get("/dags/no_such_dag/graph").status_code == 404
    assert admin_client.get(f"{BASE}/runs/no_such_run").status_code == 404


def test_the_graph_colours_tasks_by_the_run_in_the_query_string(admin_client: FlaskClient, seeded: Seeded) -> None:
    html = _text(admin_client.get(f"{BASE}/graph?run_id={q(seeded.failed_run.run_id)}"))
    data = _json_block(html, "graph-data")
    states = {n["id"]: n["state"] for n in data["nodes"]}
    assert data["run_id"] == seeded.failed_run.run_id
    assert states["web.fetch"] == "failed" and states["merge"] == "upstream_failed" and states["start"] == "success"
    assert {g["id"] for g in data["groups"]} == {"crm", "billing", "web"}
    assert ["web.fetch", "web.clean"] in data["edges"]
    assert "dagre-0.8.5/dagre.min.js" in html


def test_the_graph_without_run_id_shows_the_newest_run(admin_client: FlaskClient, seeded: Seeded) -> None:
    data = _json_block(_text(admin_client.get(f"{BASE}/graph")), "graph-data")
    assert data["run_id"] == seeded.running_run.run_id
    assert {n["id"]: n["state"] for n in data["nodes"]}["crm.fetch"] == "running"


def test_the_grid_shows_runs_oldest_to_newest_with_links_that_keep_the_run(admin_client: FlaskClient,
                                                                              seeded: Seeded) -> None:
    html = _text(admin_client.get(f"{BASE}/grid"))
    positions = [html.index(f'data-run-id="{r.run_id}"') for r in
                 (seeded.success_run, seeded.failed_run, seeded.running_run)]
    assert positions == sorted(positions)
    failed_link = f"/dags/example_task_groups/runs/{q(seeded.failed_run.run_id)}/tasks/web.fetch"
    assert failed_link in html
    assert 'data-node="crm"' in html and 'data-parent="crm"' in html


def test_the_grid_pages_through_runs_without_loading_them_all(admin_client: FlaskClient, web_store: Store,
                                                                seeded: Seeded) -> None:
    for day in range(1, 8):
        make_run(web_store, seeded.dag_id, day)
    html = _text(admin_client.get(f"{BASE}/grid?num_runs=4"))
    assert html.count('class="run-bar') == 4 and 'id="grid-older"' in html and 'id="grid-newer"' not in html
    older = _text(admin_client.get(f"{BASE}/grid?num_runs=4&offset=8"))
    assert older.count('class="run-bar') == 2 and seeded.success_run.run_id in older and 'id="grid-newer"' in older


def test_the_gantt_has_a_queued_and_running_bar_per_try(admin_client: FlaskClient, web_store: Store,
                                                         seeded: Seeded) -> None:
    html = _text(admin_client.get(f"{BASE}/gantt?run_id={q(seeded.failed_run.run_id)}"))
    bars = _json_block(html, "gantt-data")["bars"]
    web = next(b for b in bars if b["task"] == "web.fetch")
    assert web["state"] == "failed" and web["try"] == 1
    assert web["queued"] < web["start"] < web["end"]
    assert "merge" not in {b["task"] for b in bars}  # never queued: no bar


def test_duration_and_landing_times_chart_every_task_over_runs(admin_client: FlaskClient, seeded: Seeded) -> None:
    duration = _json_block(_text(admin_client.get(f"{BASE}/duration")), "series-data")
    assert duration["runs"][0] == seeded.success_run.run_id
    assert duration["series"]["start"][0] == 19.0
    landing = _json_block(_text(admin_client.get(f"{BASE}/landing-times")), "series-data")
    assert landing["series"]["start"][0] is not None


def test_the_calendar_shows_a_year_of_daily_run_states(admin_client: FlaskClient, seeded: Seeded) -> None:
    data = _json_block(_text(admin_client.get(f"{BASE}/calendar?year=2024")), "calendar-data")
    states = {d["date"]: d["state"] for d in data["days"]}
    assert states[seeded.failed_run.logical_date.date().isoformat()] == "failed"
    assert states[seeded.success_run.logical_date.date().isoformat()] == "success"


def test_the_code_view_shows_the_dag_file_escaped(admin_client: FlaskClient, seeded: Seeded) -> None:
    html = _text(admin_client.get(f"{BASE}/code"))
    assert "TaskGroup(group_id=source" in html
    assert "echo &#39;merging" in html or "echo &#x27;merging" in html


def test_run_details_show_type_conf_interval_and_tasks(admin_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.failed_run
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}"))
    assert "scheduled" in html and run.logical_date.strftime("%Y-%m-%d %H:%M:%S") in html
    assert 'data-task-id="web.fetch" data-state="failed"' in html
    assert 'data-task-id="merge" data-state="upstream_failed"' in html


def test_the_task_instance_page_lists_tries_logs_and_xcoms(admin_client: FlaskClient, web_store: Store,
                                                            web_settings: Settings, seeded: Seeded,
                                                            clock: Clock) -> None:
    run = seeded.failed_run
    key = TaskInstanceKey(run.dag_id, run.run_id, "web.fetch")
    log = Path(web_settings.base_log_folder) / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / "task_id=web.fetch"
    log.mkdir(parents=True)
    (log / "attempt=1.log").write_text("fetching web\n<b>not bold</b>\n")
    web_store.xcom_push(key, "return_value", {"rows": 3}, clock.now)
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/web.fetch"))
    assert "try 1" in html and "fetching web" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "return_value" in html and "&#34;rows&#34;: 3" in html or "&quot;rows&quot;: 3" in html
    assert "echo fetching web" in html  # the template source until it is rendered


def test_the_task_instance_page_shows_a_datetime_xcom_as_its_value_not_the_stored_tag(
        admin_client: FlaskClient, web_store: Store, seeded: Seeded, clock: Clock) -> None:
    run = seeded.failed_run
    key = TaskInstanceKey(run.dag_id, run.run_id, "web.fetch")
    value = {"start": datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc), "day": date(2024, 5, 6),
             "every": timedelta(hours=26), "rows": 3}
    web_store.xcom_push(key, "return_value", encode_xcom_value(value), clock.now)
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/web.fetch"))
    assert "2024-05-06T07:08:09+00:00" in html and "2024-05-06" in html and "1 day, 2:00:00" in html
    assert TYPE_KEY not in html
    assert re.search(r"(&#34;|&quot;)rows(&#34;|&quot;): 3", html)


def test_xcom_display_keeps_plain_values_as_they_were_shown_before() -> None:
    plain = {"rows": [1, 2], "name": "x", "when": "2024-01-01"}
    assert format_xcom(plain) == to_json(plain)
    assert format_xcom(encode_xcom_value({"at": time(6, 30)})) == '{\n  "at": "06:30:00"\n}'


def test_xcom_display_shows_a_tuple_as_a_list_never_the_stored_tag() -> None:
    assert json.loads(format_xcom(encode_xcom_value({"pair": (1, "a")}))) == {"pair": [1, "a"]}


def test_xcom_display_shows_decimals_as_their_text_and_sets_as_lists() -> None:
    from decimal import Decimal

    shown = json.loads(format_xcom(encode_xcom_value({"total": Decimal("12.50"), "ids": {2, 1}})))
    assert shown == {"total": "12.50", "ids": [1, 2]}


def test_the_log_endpoint_returns_the_log_from_an_offset(admin_client: FlaskClient, web_settings: Settings,
                                                         seeded: Seeded) -> None:
    run = seeded.running_run
    folder = (Path(web_settings.base_log_folder) / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
              / "task_id=crm.fetch")
    folder.mkdir(parents=True)
    (folder / "attempt=1.log").write_text("line one\n")
    url = f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/crm.fetch/log?try=1"
    first = admin_client.get(url).get_json()
    assert first["text"] == "line one\n" and first["running"] is True
    with (folder / "attempt=1.log").open("a") as handle:
        handle.write("line two\n")
    second = admin_client.get(f"{url}&offset={first['offset']}").get_json()
    assert second["text"] == "line two\n"


def test_a_running_try_is_followed_live_on_its_page(admin_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.running_run
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/crm.fetch"))
    assert 'data-follow="true"' in html and "log-following" in html


def test_a_waiting_task_instance_says_why_it_is_not_running(admin_client: FlaskClient, seeded: Seeded) -> None:
    run = seeded.running_run
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/crm.clean"))
    assert 'id="failed-deps"' in html and "trigger rule all_success" in html


def test_every_try_of_a_retried_task_is_listed(admin_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    run = make_run(web_store, seeded.dag_id, 5)
    key = TaskInstanceKey(run.dag_id, run.run_id, "start")
    drive(web_store, key, ("scheduled", "queued", "running", "failed"), run.logical_date)
    web_store.record_try_history(key)
    web_store.clear_task_instances([key], run.logical_date + timedelta(minutes=5))
    drive(web_store, key, ("scheduled", "queued"), run.logical_date + timedelta(minutes=6))
    assert web_store.claim_queued_task(key, "worker-2", 42, run.logical_date + timedelta(minutes=7))
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/start"))
    assert "try 1" in html and "try 2" in html
    bars = _json_block(_text(admin_client.get(f"/dags/{run.dag_id}/gantt?run_id={q(run.run_id)}")), "gantt-data")["bars"]
    assert [(b["try"], b["state"]) for b in bars if b["task"] == "start"] == [(1, "failed"), (2, "running")]


def test_a_new_dag_version_shows_as_soon_as_it_is_stored(admin_client: FlaskClient, web_store: Store,
                                                          seeded: Seeded) -> None:
    assert sync_example(web_store) == [seeded.dag_id]
    assert admin_client.get(f"{BASE}/graph").status_code == 200


def test_the_graph_data_names_setup_and_teardown_tasks_and_the_edges_drawn_dotted() -> None:
    from flowctl.web.dag_model import graph_payload

    data = {"tasks": [{"task_id": "create", "upstream_task_ids": [], "is_setup": True},
                      {"task_id": "work", "upstream_task_ids": ["create"]},
                      {"task_id": "delete", "upstream_task_ids": ["create", "work"], "is_teardown": True}],
            "task_group": {"group_id": None, "children": ["create", "work", "delete"]}}
    payload = graph_payload(data, [])
    assert {n["id"]: n["role"] for n in payload["nodes"]} == {"create": "setup", "work": None, "delete": "teardown"}
    assert payload["setup_edges"] == [["create", "delete"]]
    assert ["work", "delete"] in payload["edges"] and ["create", "delete"] in payload["edges"]


def test_the_graph_data_carries_each_edge_label() -> None:
    from flowctl.web.dag_model import graph_payload

    data = {"tasks": [{"task_id": "check", "upstream_task_ids": []},
                      {"task_id": "load", "upstream_task_ids": ["check"]},
                      {"task_id": "skip", "upstream_task_ids": ["check"]}],
            "task_group": {"group_id": None, "children": ["check", "load", "skip"]},
            "edge_info": {"check": {"load": {"label": "new rows"}}}}
    assert graph_payload(data, [])["edge_labels"] == [["check", "load", "new rows"]]


def test_a_deferred_task_instance_says_it_waits_for_its_trigger_in_its_current_try(
        admin_client: FlaskClient, web_store: Store, seeded: Seeded) -> None:
    run = make_run(web_store, seeded.dag_id, 6)
    key = TaskInstanceKey(run.dag_id, run.run_id, "start")
    drive(web_store, key, ("scheduled", "queued"), run.logical_date)
    assert web_store.claim_queued_task(key, "worker-1", 42, run.logical_date + timedelta(minutes=1))
    assert web_store.defer_try(key, web_store.get_task_instance(key).try_number, "flowctl.triggers.file.FileTrigger",
                               {"filepath": "/data/x"}, "execute_complete", {}, None, run.logical_date)
    html = _text(admin_client.get(f"/dags/{run.dag_id}/runs/{q(run.run_id)}/tasks/start"))
    assert 'id="failed-deps"' in html and "waits for its trigger flowctl.triggers.file.FileTrigger" in html
    assert "Try</th><td>1 of" in html and "state-deferred" in html
