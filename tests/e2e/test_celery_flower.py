"""`flowctl celery flower` on a real Redis broker, beside a real `flowctl celery worker`: Flower
lists the worker, and only to the users of [celery] flower_basic_auth. Without Redis this skips,
unless ``CI=true``."""
from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
import uuid

from tests.e2e.conftest import Deploy
from tests.e2e.test_celery import celery_deployment, redis_up, said  # noqa: F401 - redis_up: a fixture

PASSWORD = f"pw-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def test_flower_shows_the_running_workers_to_its_users_only(redis_up: None, deploy: Deploy) -> None:  # noqa: F811
    d = celery_deployment(deploy, "sqlite", celery__flower_basic_auth=f"ops:{PASSWORD}")
    name = f"probe-{uuid.uuid4().hex[:8]}"
    worker = d.spawn("worker", "celery", "worker", "-q", "default", "-c", "1", "--hostname", f"{name}@%h")
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
    assert [queue["name"] for queue in entry["active_queues"]] == ["default"]
    assert "flowctl.run_try" in entry["registered"]
    assert PASSWORD not in flower.output()
