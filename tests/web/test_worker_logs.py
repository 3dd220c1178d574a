"""A try that ran on another machine (a Celery worker): the web server reads its log from that
machine's log server, in the UI, the download and the REST API alike."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from flowctl.settings import Settings
from flowctl.task_runner.log_server import LogServer
from flowctl.web.app import create_app
from tests.web.conftest import Clock, _logged_in
from tests.web.webdata import Seeded, make_run

WORKER = "127.0.0.1"  # the try's hostname: not this machine's name, so its log is asked of the worker
TEXT = "".join(f"[2024-03-01 06:00:00] INFO - line {i} written on the worker\n" for i in range(20_000))
RAW = TEXT.encode() + b"a byte that is not UTF-8: \xff\n"


@pytest.fixture
def worker_log(tmp_path: Path, web_settings: Settings, web_store: Store, seeded: Seeded) -> Iterator[tuple[
        LogServer, TaskInstanceKey]]:
    """A try claimed by the worker at 127.0.0.1, its log in the worker's folder only, served there."""
    run = make_run(web_store, seeded.dag_id, 30)
    key = TaskInstanceKey(run.dag_id, run.run_id, seeded.task_ids[0])
    at = run.logical_date + timedelta(minutes=1)
    assert web_store.set_task_state(key, "pending", "scheduled")
    assert web_store.set_task_state(key, "scheduled", "queued", queued_at=at)
    assert web_store.start_tries([(key, 0)], WORKER, 4242, at)[0] is not None
    worker_folder = tmp_path / "worker-logs"
    relative = Path(f"dag_id={key.dag_id}") / f"run_id={key.run_id}" / f"task_id={key.task_id}" / "attempt=1.log"
    (worker_folder / relative).parent.mkdir(parents=True)
    (worker_folder / relative).write_bytes(RAW)
    assert not (Path(web_settings.base_log_folder) / relative).exists()
    server = LogServer(worker_folder, str(web_settings.get("webserver", "secret_key")), host=WORKER, port=0).start()
    yield server, key
    server.stop()


def client_for(settings: Settings, store: Store, users: dict[str, str]) -> FlaskClient:
    app = create_app(settings, store, Clock())
    app.config["TESTING"] = True
    return _logged_in(app, users, "admin")


def urls(key: TaskInstanceKey) -> tuple[str, str]:
    ti = f"/dags/{key.dag_id}/runs/{quote(key.run_id, safe='')}/tasks/{quote(key.task_id, safe='')}"
    api = f"/api/v1/dags/{key.dag_id}/dagRuns/{quote(key.run_id, safe='')}/taskInstances/{key.task_id}/logs/1"
    return ti, api


def test_the_log_of_a_try_run_elsewhere_comes_from_its_worker(worker_log: tuple[LogServer, TaskInstanceKey],
                                                              web_settings: Settings, web_store: Store,
                                                              users: dict[str, str]) -> None:
    server, key = worker_log
    client = client_for(web_settings.replace(logging__worker_log_server_port=server.port), web_store, users)
    ti_url, api_url = urls(key)
    assert "line 0 written on the worker" in client.get(ti_url).get_data(as_text=True)
    shown, offset = "", 0
    while True:  # the page's script asks chunk after chunk
        chunk = client.get(f"{ti_url}/log?try=1&offset={offset}").get_json()
        assert chunk["exists"] and chunk["size"] == len(RAW)
        shown, offset = shown + chunk["text"], chunk["offset"]
        if not chunk["more"]:
            break
    assert shown == RAW.decode(errors="replace")
    download = client.get(f"{ti_url}/log/download?try=1")
    assert download.status_code == 200 and download.get_data() == RAW  # byte for byte
    api = client.get(f"{api_url}?full_content=true")
    assert api.status_code == 200 and api.get_data(as_text=True) == RAW.decode(errors="replace")


def test_a_worker_that_does_not_answer_is_named_instead_of_the_log(worker_log: tuple[LogServer, TaskInstanceKey],
                                                                   web_settings: Settings, web_store: Store,
                                                                   users: dict[str, str]) -> None:
    server, key = worker_log
    port = server.port
    server.stop()
    client = client_for(web_settings.replace(logging__worker_log_server_port=port), web_store, users)
    ti_url, api_url = urls(key)
    assert f"the worker&#39;s log server at {WORKER}:{port} did not answer" in client.get(ti_url).get_data(
        as_text=True)
    api = client.get(api_url)
    assert api.status_code == 404 and f"{WORKER}:{port} did not answer" in api.get_data(as_text=True)
    assert client.get(f"{ti_url}/log/download?try=1").status_code == 404


def test_with_the_log_server_port_at_0_no_worker_is_asked(worker_log: tuple[LogServer, TaskInstanceKey],
                                                         web_settings: Settings, web_store: Store,
                                                         users: dict[str, str]) -> None:
    _, key = worker_log
    client = client_for(web_settings.replace(logging__worker_log_server_port=0), web_store, users)
    ti_url, api_url = urls(key)
    page = client.get(ti_url).get_data(as_text=True)
    assert "written on the worker" not in page
    assert "did not answer" not in page  # asked of port 0, the page would say the worker did not answer
    api = client.get(api_url)
    assert api.status_code == 404 and "did not answer" not in api.get_data(as_text=True)
