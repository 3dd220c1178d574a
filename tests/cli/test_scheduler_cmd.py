"""``flowctl scheduler`` and ``flowctl dag-processor``: new DAGs paused by option, one scheduler per SQLite file."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from flowctl.cli import main
from flowctl.db.engine import make_engine
from flowctl.db.store import Store

Out = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parents[2]

DAILY = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("daily", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False) as dag:
    EmptyOperator(task_id="only")
'''


@pytest.fixture()
def home(sqlite_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sqlite_home`` with the sequential executor."""
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "sequential")
    return sqlite_home


@pytest.fixture()
def store(home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_sqlite_url))
    yield store
    store.close()


def _ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def test_the_scheduler_creates_new_dags_paused_when_dags_are_paused_at_creation(
        home: Path, store: Store, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "dags" / "daily.py").write_text(DAILY)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_ARE_PAUSED_AT_CREATION", "true")
    assert main(["scheduler", "--num-runs", "3"]) == 0
    assert store.list_runs("daily") == []  # paused: no scheduled run
    capsys.readouterr()
    assert main(["dags", "next-execution", "daily"]) == 0
    assert "Note: DAG daily is paused now." in capsys.readouterr().err


def test_a_scheduler_on_sqlite_refuses_in_one_line_only_while_another_ones_heartbeat_is_recent(
        home: Path, store: Store, capsys: Out) -> None:
    other = store.create_job("scheduler", "other-host", 4242, _ago(2))
    assert main(["scheduler", "--num-runs", "1"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "pid 4242 on other-host" in err and "kill 4242" in err and "PostgreSQL" in err
    assert [j.id for j in store.list_jobs("scheduler")] == [other.id]  # the refused one registered nothing
    store.heartbeat_job(other.id, _ago(31))  # [scheduler] scheduler_health_check_threshold is 30 s
    assert main(["scheduler", "--num-runs", "1"]) == 0
    assert {j.state for j in store.list_jobs("scheduler") if j.id != other.id} == {"success"}


def test_the_health_check_threshold_decides_when_a_scheduler_row_is_stale(
        home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "300")
    store.create_job("scheduler", "other-host", 4242, _ago(120))  # a kill -9 two minutes ago
    assert main(["scheduler", "--num-runs", "1"]) == 1
    monkeypatch.setenv("FLOWCTL__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "60")
    assert main(["scheduler", "--num-runs", "1"]) == 0


def test_a_scheduler_row_of_this_host_whose_process_is_gone_blocks_nothing_at_once(home: Path, store: Store) -> None:
    alive = store.create_job("scheduler", socket.gethostname(), os.getppid(), _ago(1))
    assert main(["scheduler", "--num-runs", "1"]) == 1
    store.end_job(alive.id, "success", _ago(0))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    store.create_job("scheduler", socket.gethostname(), int(gone.stdout), _ago(1))  # as after a kill -9
    assert main(["scheduler", "--num-runs", "1"]) == 0


def test_a_scheduler_on_postgresql_starts_beside_a_live_one(
        tmp_path: Path, migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dags").mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_pg_url)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "sequential")
    store = Store(make_engine(migrated_pg_url))
    try:
        store.create_job("scheduler", "other-host", 4242, _ago(1))
        assert main(["scheduler", "--num-runs", "1"]) == 0
    finally:
        store.close()


def _wait_for_job(store: Store, pid: int, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if any(j.pid == pid for j in store.list_jobs("scheduler", "running")):
            return
        time.sleep(0.05)
    raise AssertionError(f"scheduler {pid} did not register (exit code {proc.poll()})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_scheduler(home: Path, name: str) -> subprocess.Popen[bytes]:
    with (home / f"{name}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "flowctl", "scheduler"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)


def test_a_second_scheduler_process_is_refused_while_the_first_runs_and_starts_once_it_stopped(
        home: Path, store: Store, capsys: Out) -> None:
    first = _start_scheduler(home, "first")
    try:
        _wait_for_job(store, first.pid, first)
        assert main(["scheduler", "--num-runs", "1"]) == 1
        assert f"kill {first.pid}" in capsys.readouterr().err
        _stop(first)
        assert first.returncode == 0, (home / "first.log").read_text()
        assert main(["scheduler", "--num-runs", "1"]) == 0
    finally:
        _stop(first)


def test_a_scheduler_starts_at_once_after_the_one_before_was_killed_with_sigkill(home: Path, store: Store) -> None:
    first = _start_scheduler(home, "first")
    try:
        _wait_for_job(store, first.pid, first)
        first.kill()
        first.wait(timeout=30)
        assert [j.pid for j in store.list_jobs("scheduler", "running")] == [first.pid]  # its row says running
        assert main(["scheduler", "--num-runs", "1"]) == 0
    finally:
        _stop(first)


def _stop_daemon(pid_file: Path, detached: bool) -> None:
    """Stop a daemon that (wrongly) detached, by the pid it wrote."""
    deadline = time.monotonic() + (15 if detached else 0)
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def test_a_refused_daemon_says_why_on_the_terminal_before_it_detaches(home: Path, store: Store) -> None:
    store.create_job("scheduler", "other-host", 4242, _ago(2))
    pid_file = home / "daemon.pid"
    done = None
    try:
        done = subprocess.run([sys.executable, "-m", "flowctl", "scheduler", "--daemon", "--pid", str(pid_file),
                               "--log-file", str(home / "daemon.log")], cwd=ROOT, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "pid 4242 on other-host" in done.stderr
        assert not pid_file.exists()
    finally:
        _stop_daemon(pid_file, detached=done is None or done.returncode == 0)


def test_the_scheduler_forks_its_task_agent_holding_no_database_file_open(
        home: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's locks are per process and a forked copy of an open connection breaks them (the agent
    once failed with "locking protocol" and lost claims): nothing may open the file before the fork."""
    from flowctl.task_runner import agent

    database = store.engine.url.database
    assert database is not None
    real_fork_agent, open_then = agent.fork_agent, []

    def fork_agent(seat: object, settings: object) -> None:
        fds = os.listdir("/proc/self/fd")
        open_then.extend(path for fd in fds if (path := _target(fd)).startswith(database))
        real_fork_agent(seat, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(agent, "fork_agent", fork_agent)
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "local")
    store.close()  # the test's own connection is not the scheduler's
    assert main(["scheduler", "--num-runs", "1"]) == 0
    assert open_then == []


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_on_postgresql_the_worker_parent_and_the_parsers_start_before_the_scheduler_builds_its_store(
        tmp_path: Path, migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zygote warms up and the DAG parsing processes import (other interpreters) while the
    scheduler imports the database stack: a check that built the store first put that import (some
    0.7 s) before all of them, on the start-up path."""
    from flowctl.dag_processing.processor import DagFileProcessor
    from flowctl.executors.local import LocalExecutor

    (tmp_path / "dags").mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_pg_url)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "local")
    order: list[str] = []
    real_start, real_from_settings = LocalExecutor.start, Store.from_settings
    real_processor = DagFileProcessor.from_settings

    def start(self: LocalExecutor) -> None:
        order.append("executor")
        real_start(self)

    def from_settings(settings: object) -> Store:
        order.append("store")
        return real_from_settings(settings)  # type: ignore[arg-type]

    def processor(settings: object) -> DagFileProcessor:
        order.append("processor")
        return real_processor(settings)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalExecutor, "start", start)
    monkeypatch.setattr(Store, "from_settings", staticmethod(from_settings))
    def fork_agent(seat: object, settings: object) -> None:  # right after the database stack's import
        order.append("agent")
        real_fork_agent(seat, settings)  # type: ignore[arg-type]

    from flowctl.task_runner import agent

    real_fork_agent = agent.fork_agent
    monkeypatch.setattr(agent, "fork_agent", fork_agent)
    monkeypatch.setattr(DagFileProcessor, "from_settings", staticmethod(processor))
    assert main(["scheduler", "--num-runs", "1"]) == 0
    assert order[:4] == ["executor", "processor", "agent", "store"]  # (Scheduler.start calls start again)


def test_a_pid_file_appears_whole_never_empty(tmp_path: Path, monkeypatch: Any) -> None:
    """A reader that finds the PID file (``flowctl celery stop``, a second ``--daemon``, a test waiting
    for the daemon) reads its pid: the file is written beside and renamed into place."""
    from flowctl.cli import files, scheduler_cmd

    path = tmp_path / "run" / "flowctl-scheduler.pid"
    seen: list[tuple[bool, str]] = []
    rename = os.replace

    def watched(source: Any, target: Any) -> None:
        seen.append((Path(target).exists(), Path(source).read_text()))
        rename(source, target)

    monkeypatch.setattr(files.os, "replace", watched)
    scheduler_cmd.write_pid_file(path)
    assert seen == [(False, f"{os.getpid()}\n")]
    assert scheduler_cmd.live_pid(path) == os.getpid()
    assert sorted(p.name for p in path.parent.iterdir()) == ["flowctl-scheduler.pid"]  # no temporary left


@pytest.mark.parametrize("command", [["scheduler", "--num-runs", "1"], ["triggerer", "--num-runs", "1"],
                                     ["celery", "worker"]])
def test_a_pid_file_that_cannot_be_written_is_one_line_and_exit_1(home: Path, store: Store, capsys: Out,
                                                                  command: list[str]) -> None:
    """Before: a FileNotFoundError traceback, from the writer of the PID file."""
    pid_file = home / "no-such-folder" / "s.pid"
    (home / "no-such-folder").write_text("a file, not a folder")
    code, out = main([*command, "--pid", str(pid_file)]), capsys.readouterr()
    assert (code, out.out) == (1, "")
    assert out.err == f"flowctl: error: cannot write {pid_file}: {home / 'no-such-folder'} is not a folder\n"


def test_a_pid_file_in_a_folder_that_cannot_be_made_is_one_line(home: Path, store: Store, capsys: Out) -> None:
    pid_file = Path("/proc/nope/s.pid")  # not even root may make a folder in /proc
    assert main(["scheduler", "--num-runs", "1", "--pid", str(pid_file)]) == 1
    assert capsys.readouterr().err == (f"flowctl: error: cannot write {pid_file}: "
                                       "cannot make its folder /proc/nope (No such file or directory)\n")
