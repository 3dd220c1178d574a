"""The graph and grid pages of a DAG with a mapped task group: every task of the group is a mapped
node with one instance per map index, inside its group, and the grid lists the group and its tasks."""
from __future__ import annotations

import json
import re
from pathlib import Path

from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from tests.web.webdata import T0, drive, make_run, sync_example

SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task, task_group

@task
def numbers():
    return [1, 2, 3]

@task
def scale(x):
    return x * 10

@task
def shift(y):
    return y + 1

@task
def total(values):
    return sum(values)

@task_group
def pipeline(x):
    return shift(scale(x))

with DAG("grouped", start_date=datetime(2024, 1, 1), schedule=None):
    total(pipeline.expand(x=numbers()))
'''


def test_the_graph_and_grid_show_a_mapped_groups_tasks_with_their_map_indexes(
        admin_client: FlaskClient, web_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "grouped.py"
    path.write_text(SOURCE)
    assert sync_example(web_store, path) == ["grouped"]
    run = make_run(web_store, "grouped", 0)
    for task_id in ("pipeline.scale", "pipeline.shift"):
        assert web_store.expand_mapped_task(run.key, task_id, 3, T0)
    drive(web_store, TaskInstanceKey("grouped", run.run_id, "pipeline.scale", 1), ("scheduled", "queued", "running",
                                                                                   "failed"), T0)
    graph = admin_client.get("/dags/grouped/graph")
    assert graph.status_code == 200
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', graph.get_data(as_text=True),
                      re.S)
    assert found
    nodes = {n["id"]: n for n in json.loads(found.group(1))["nodes"]}
    for task_id in ("pipeline.scale", "pipeline.shift"):
        assert (nodes[task_id]["mapped"], nodes[task_id]["instances"], nodes[task_id]["group"]) == (
            True, 3, "pipeline")
    assert nodes["pipeline.scale"]["state"] == "failed" and not nodes["total"]["mapped"]
    grid = admin_client.get("/dags/grouped/grid")
    assert grid.status_code == 200
    html = grid.get_data(as_text=True)
    assert 'data-node="pipeline"' in html and 'data-parent="pipeline"' in html
    page = admin_client.get(f"/dags/grouped/runs/{run.run_id}/tasks/pipeline.scale")
    assert page.status_code == 200 and "failed" in page.get_data(as_text=True)


def test_the_grid_marks_a_mapped_task_and_counts_its_instances_by_state(
        admin_client: FlaskClient, web_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "grouped.py"
    path.write_text(SOURCE)
    assert sync_example(web_store, path) == ["grouped"]
    run = make_run(web_store, "grouped", 0)
    assert web_store.expand_mapped_task(run.key, "pipeline.scale", 3, T0)
    drive(web_store, TaskInstanceKey("grouped", run.run_id, "pipeline.scale", 1), ("scheduled", "queued", "running",
                                                                                   "failed"), T0)
    html = admin_client.get("/dags/grouped/grid").get_data(as_text=True)
    row = re.search(r'<tr class="task-row" data-node="pipeline.scale".*?</tr>', html, re.S)
    assert row, html
    assert 'scale <span class="muted">[ ]</span>' in row.group(0) and 'title="failed · 3 mapped: 1 failed, 2 ' in row.group(0)
    total = re.search(r'<tr class="task-row" data-node="total".*?</tr>', html, re.S)
    assert total and "[ ]" not in total.group(0) and "mapped" not in total.group(0)
