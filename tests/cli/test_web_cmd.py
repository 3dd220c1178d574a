"""``flowctl webserver``: refuses to start without a secret key, builds gunicorn options, serves /health."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flowctl.cli import main
from flowctl.cli.web_cmd import gunicorn_options
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


def _web_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {**os.environ, "FLOWCTL_HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": database_url, "FLOWCTL__WEBSERVER__SECRET_KEY": "cli-test-secret"}
    env.pop("FLOWCTL_CONFIG", None)
    return env


def _health(port: int, seconds: float = 30) -> dict | None:
    """The web server's /health body once it answers; None if it never did within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    return None


def test_webserver_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.delenv("FLOWCTL__WEBSERVER__SECRET_KEY", raising=False)
    assert main(["webserver", "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "flowctl: error: [webserver] secret_key is empty: run `flowctl db init` to generate one "
        "(or set FLOWCTL__WEBSERVER__SECRET_KEY)"]


def test_webserver_refuses_to_start_on_a_database_at_an_older_revision(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: it started, and every page but /health was a 500 (no such column) until someone migrated."""
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.delenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    monkeypatch.setenv("FLOWCTL__WEBSERVER__SECRET_KEY", "cli-test-secret")
    assert main(["db", "migrate", "-r", "0002"]) == 0
    capsys.readouterr()
    assert main(["webserver", "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "is at revision 0002, flowctl needs" in err and "flowctl db migrate" in err, err


def test_a_port_out_of_range_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webserver", "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "99999 is not in the range 1<=x<=65535" in err


def test_gunicorn_options_follow_the_command_line(tmp_path: Path) -> None:
    options = gunicorn_options("0.0.0.0", 9000, 3, tmp_path / "web.pid", True, None)
    assert options["bind"] == "0.0.0.0:9000"
    assert (options["workers"], options["daemon"], options["pidfile"]) == (3, True, str(tmp_path / "web.pid"))
    assert "pidfile" not in gunicorn_options("127.0.0.1", 8080, 1, None, False, "-")


def test_webserver_serves_health_with_gunicorn_and_stops_on_sigterm(tmp_path: Path, migrated_sqlite_url: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flowctl", "webserver", "--port", str(port), "--workers", "2"],
                            env=_web_env(tmp_path, migrated_sqlite_url), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        body = _health(port)
        assert body is not None, "the web server never answered /health"
        assert body["metadatabase"]["status"] == "healthy"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_webserver_daemon_detaches_writes_its_pid_and_log_and_serves(tmp_path: Path, migrated_sqlite_url: str) -> None:
    """Before: -D was handed to gunicorn's BaseApplication, which never daemonizes: the command stayed
    in the foreground (init scripts hung)."""
    port = free_port()
    pid_file = tmp_path / "flowctl-webserver.pid"
    done = subprocess.run([sys.executable, "-m", "flowctl", "webserver", "-D", "--port", str(port), "--workers", "1"],
                          env=_web_env(tmp_path, migrated_sqlite_url), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid = None
    try:
        assert _health(port) is not None, "the detached web server never answered /health"
        pid = int(pid_file.read_text().strip())
        assert (tmp_path / "flowctl-webserver.log").exists()
    finally:
        if pid is None and pid_file.exists():
            pid = int(pid_file.read_text().strip())
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and pid_file.exists():
                time.sleep(0.1)
    assert not pid_file.exists()  # gunicorn removes it when it stops
