"""`flowctl celery flower` on a real Redis broker, beside a real `flowctl celery worker`: Flower
lists the worker, and only to the users of [celery] flower_basic_auth; a worker started with
``--daemon`` is stopped by `flowctl celery stop`. Without Redis these skip, unless ``CI=true``."""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
import uuid

from tests.e2e.conftest import Deploy
from tests.e2e.harness import free_port
from tests.e2e.test_celery import ROUTED, celery_deployment, redis_up, said  # noqa: F401 - redis_up: a fixture

PASSWORD = f"pw-{uuid.uuid4().hex}"


def get(url: str, user: str | None = None, password: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:  # not listening yet
        return 0, b""


def test_flower_shows_the_workers_and_their_tries_to_its_users_only(redis_up: None, deploy: Deploy) -> None:  # noqa: F811
    d = celery_deployment(deploy, "sqlite", celery__flower_basic_auth=f"ops:{PASSWORD}")
    d.write_dag("routed.py", ROUTED)
    name = f"probe-{uuid.uuid4().hex[:8]}"
    worker = d.spawn("worker", "celery", "worker", "-q", "default,special", "-c", "1", "--hostname", f"{name}@%h")
    said(d, worker, " ready.")
    port = free_port()
    flower = d.spawn("flower", "celery", "flower", "-p", str(port), "-u", "/flower/")
    base = f"http://127.0.0.1:{port}/flower"
    d.wait_for(lambda: get(f"{base}/healthcheck")[0] == 200, 30, "Flower to answer")

    assert get(f"{base}/api/workers")[0] == 401  # no credentials
    assert get(f"{base}/api/workers", "ops", "wrong")[0] == 401
    workers: dict[str, object] = {}

    def listed() -> bool:
        status, body = get(f"{base}/api/workers?refresh=1", "ops", PASSWORD)
        workers.update(json.loads(body) if status == 200 else {})
        return any(key.startswith(f"{name}@") for key in workers)
    d.wait_for(listed, 30, f"Flower to list the worker {name}")
    entry = next(value for key, value in workers.items() if key.startswith(f"{name}@"))
    assert isinstance(entry, dict)
    assert sorted(queue["name"] for queue in entry["active_queues"]) == ["default", "special"]
    assert "flowctl.run_try" in entry["registered"]

    # Flower asks the workers for their task events (every 5 s); the tries run after that show in it
    said(d, worker, "enabled by remote")
    d.start_scheduler()
    d.wait_for_dag("routed")
    run_id = d.trigger("routed")
    assert d.wait_for_run("routed", run_id, timeout=60) == "success", d.diagnostics()
    tasks: dict[str, dict[str, object]] = {}

    def shown() -> bool:
        status, body = get(f"{base}/api/tasks", "ops", PASSWORD)
        tasks.update(json.loads(body) if status == 200 else {})
        return sum(1 for t in tasks.values() if t["state"] == "SUCCESS" and run_id in str(t["args"])) == 2
    d.wait_for(shown, 20, "Flower to show the run's two tries")
    assert {t["name"] for t in tasks.values()} == {"flowctl.run_try"}
    assert PASSWORD not in flower.output()


def test_a_daemon_worker_runs_tries_until_celery_stop_ends_it(redis_up: None, deploy: Deploy) -> None:  # noqa: F811
    d = celery_deployment(deploy, "sqlite")
    d.write_dag("routed.py", ROUTED)
    started = d.flowctl("celery", "worker", "--daemon", "-q", "default,special", "-c", "2")  # returns once detached
    pid_file, log_file = d.home / "flowctl-worker.pid", d.home / "flowctl-worker.log"
    d.wait_for(pid_file.exists, 20, "the daemon's PID file")
    pid = int(pid_file.read_text())
    d.wait_for(lambda: " ready." in log_file.read_text(), 30, "the daemon worker to be ready")
    d.start_scheduler()
    d.wait_for_dag("routed")
    run_id = d.trigger("routed")
    assert d.wait_for_run("routed", run_id, timeout=60) == "success", d.diagnostics() + log_file.read_text()

    stopped = d.flowctl("celery", "stop")
    assert stopped.stdout.strip() == (f"sent SIGTERM to the Celery worker (pid {pid}); it exits once its running "
                                      f"tries end"), started.stdout + stopped.stdout

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    d.wait_for(gone, 30, "the daemon worker to exit")
    assert not pid_file.exists()  # removed by the worker on its way out
    assert d.flowctl("celery", "stop", check=False).returncode == 1
