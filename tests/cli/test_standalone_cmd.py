"""`flowctl standalone`: database, admin user, children in one process group, signals forwarded."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowctl.cli.app import CliContext, cli
from flowctl.cli.standalone_cmd import components, ensure_admin
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_components_are_the_scheduler_and_the_webserver_when_they_exist() -> None:
    got = components(["dags", "scheduler"], "/py", None)
    assert [(c.name, c.argv) for c in got] == [("scheduler", ("/py", "-m", "flowctl", "scheduler"))]
    both = components(["webserver", "scheduler"], "/py", "/etc/f.cfg")
    assert [c.argv for c in both] == [("/py", "-m", "flowctl", "--config", "/etc/f.cfg", "scheduler"),
                                      ("/py", "-m", "flowctl", "--config", "/etc/f.cfg", "webserver")]


def test_with_the_celery_executor_a_worker_on_the_default_queue_runs_beside_them() -> None:
    """Before: standalone with [core] executor = celery started no worker, and every task stayed queued."""
    got = components(["webserver", "scheduler", "celery"], "/py", None, executor="celery")
    assert [(c.name, c.argv) for c in got] == [
        ("scheduler", ("/py", "-m", "flowctl", "scheduler")), ("webserver", ("/py", "-m", "flowctl", "webserver")),
        ("worker", ("/py", "-m", "flowctl", "celery", "worker", "-q", "default"))]
    assert [c.name for c in components(["webserver", "scheduler", "celery"], "/py", None)] == ["scheduler", "webserver"]


def test_an_admin_is_created_once_with_a_random_password(tmp_path: Path, migrated_sqlite_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    ctx = CliContext()
    password = ensure_admin(ctx)
    assert password and len(password) >= 12
    assert ensure_admin(ctx) is None
    (user,) = ctx.store.list_users()
    assert user.username == "admin" and "Admin" in user.roles
    ctx.store.close()


def _wait_for(proc: subprocess.Popen[str], text: str, deadline: float) -> str:
    seen = ""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not seen; output so far:\n{seen}")


@pytest.mark.skipif("scheduler" not in cli.commands, reason="no `flowctl scheduler` command yet")
def test_standalone_starts_the_scheduler_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWCTL_HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "FLOWCTL__CORE__DAGS_FOLDER": str(tmp_path / "dags"), "FLOWCTL__CORE__EXECUTOR": "sequential",
           "FLOWCTL__WEBSERVER__PORT": str(port := free_port())}  # standalone also starts the web server
    env.pop("FLOWCTL_CONFIG", None)
    (tmp_path / "dags").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "flowctl", "standalone"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = _wait_for(proc, "password (shown only now)", time.monotonic() + 30)
        assert "started scheduler (log: " in out
        assert f"web UI: http://127.0.0.1:{port}" in out  # where it really listens
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=40)
        assert proc.returncode == 0, out + rest
        assert (tmp_path / "logs" / "standalone" / "scheduler.log").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_children_share_one_process_group_and_stop_together(tmp_path: Path) -> None:
    from flowctl.cli.standalone_cmd import Children, Component

    code = "import time; print('up', flush=True); time.sleep(60)"
    children = Children(tmp_path / "logs")
    first = children.start(Component("one", (sys.executable, "-c", code)))
    children.start(Component("two", (sys.executable, "-c", code)))
    pids = [p.pid for _, p in children.procs]
    assert {os.getpgid(pid) for pid in pids} == {pids[0]}
    deadline = time.monotonic() + 10
    while "up" not in first.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert children.first_exit() is None
    started = time.monotonic()
    children.stop(grace=5)
    assert time.monotonic() - started < 5
    assert all(p.returncode == -signal.SIGTERM for _, p in children.procs)
    assert first.read_text() == "up\n"


def test_components_include_the_triggerer_when_flowctl_has_the_command() -> None:
    got = components(["webserver", "scheduler", "triggerer"], "/py", None)
    assert [c.name for c in got] == ["scheduler", "triggerer", "webserver"]
    assert got[1].argv == ("/py", "-m", "flowctl", "triggerer")
