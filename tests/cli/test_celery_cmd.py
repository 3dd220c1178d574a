"""`flowctl celery flower`'s and `flowctl celery stop`'s refusals: they come before any broker is
reached (no service needed). Flower serving a real worker's state, and a daemon worker stopped:
tests/e2e/test_celery_commands.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.cli import main
from flowctl.cli.celery_cmd import is_loopback


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.delenv("FLOWCTL__CELERY__FLOWER_BASIC_AUTH", raising=False)
    monkeypatch.delenv("FLOWCTL__CELERY__FLOWER_HOST", raising=False)
    return tmp_path


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_flower_open_to_the_network_without_a_password_is_refused_in_one_line(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["celery", "flower", "-H", "0.0.0.0"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("flowctl: error: Flower on 0.0.0.0 would show every task's")
    assert "[celery] flower_basic_auth" in lines[0]
    monkeypatch.setenv("FLOWCTL__CELERY__FLOWER_HOST", "flower.example.com")  # the setting, the same rule
    assert main(["celery", "flower"]) == 1
    assert "Flower on flower.example.com" in capsys.readouterr().err


@pytest.mark.parametrize("auth", ["bob", "bob:", ":pw", "bob:pw,", "bob:pw,alice"])
def test_a_malformed_basic_auth_is_a_usage_error_naming_where_it_came_from(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, auth: str) -> None:
    assert main(["celery", "flower", "-A", auth]) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "--basic-auth" in lines[0] and "user:password pairs" in lines[0], lines
    monkeypatch.setenv("FLOWCTL__CELERY__FLOWER_BASIC_AUTH", auth)
    assert main(["celery", "flower", "-H", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "[celery] flower_basic_auth" in err and auth not in err.replace("flower_basic_auth", "")


@pytest.mark.parametrize(("host", "local"), [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                             ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                             ("10.0.0.5", False), ("flower.internal", False)])
def test_only_loopback_addresses_count_as_this_machine_only(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_stop_without_a_worker_says_which_pid_file_it_read_in_one_line(
        home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["celery", "stop"]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert lines == [f"flowctl: error: no Celery worker to stop: its PID file {home / 'flowctl-worker.pid'} does "
                     f"not exist (a worker writes it when started with --daemon or --pid)"]
    stale = tmp_path / "stale.pid"
    stale.write_text("999999999\n")  # no such process
    assert main(["celery", "stop", "--pid", str(stale)]) == 1
    assert f"its PID file {stale} holds no running process" in capsys.readouterr().err
