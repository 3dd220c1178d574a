"""`flowctl jobs check`: the health check of Airflow's docker-compose file and Helm chart."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]


@pytest.fixture()
def store(sqlite_home: Path, migrated_sqlite_url: str) -> Iterator[Store]:
    store = Store(make_engine(migrated_sqlite_url))
    yield store
    store.close()


def _ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def test_no_scheduler_at_all_exits_1_with_one_line(store: Store, capsys: Out) -> None:
    assert run_cli(capsys, "jobs", "check", "--job-type", "SchedulerJob") == (
        1, "", "flowctl: error: No alive jobs found.\n")


def test_a_scheduler_with_a_recent_heartbeat_passes_by_airflows_name_or_flowctls(store: Store, capsys: Out) -> None:
    store.create_job("scheduler", "host-a", 1, _ago(1))
    for job_type in ("SchedulerJob", "scheduler"):
        assert run_cli(capsys, "jobs", "check", "--job-type", job_type) == (0, "Found one alive job.\n", "")
    assert run_cli(capsys, "jobs", "check")[0] == 0


def test_a_scheduler_whose_heartbeat_is_older_than_the_threshold_or_that_ended_fails(store: Store,
                                                                                    capsys: Out,
                                                                                    monkeypatch: pytest.MonkeyPatch
                                                                                    ) -> None:
    monkeypatch.setenv("FLOWCTL__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "30")
    store.create_job("scheduler", "host-a", 1, _ago(45))
    ended = store.create_job("scheduler", "host-a", 2, _ago(1))
    assert store.end_job(ended.id, "success", _ago(0))
    assert run_cli(capsys, "jobs", "check", "--job-type", "SchedulerJob")[0] == 1
    monkeypatch.setenv("FLOWCTL__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "60")
    assert run_cli(capsys, "jobs", "check", "--job-type", "SchedulerJob")[0] == 0


def test_hostname_and_local_keep_the_jobs_of_that_host(store: Store, capsys: Out) -> None:
    store.create_job("scheduler", "elsewhere", 1, _ago(1))
    assert run_cli(capsys, "jobs", "check", "--hostname", "elsewhere")[0] == 0
    assert run_cli(capsys, "jobs", "check", "--hostname", "nowhere")[0] == 1
    assert run_cli(capsys, "jobs", "check", "--local")[0] == 1
    store.create_job("scheduler", socket.gethostname(), 2, _ago(1))
    assert run_cli(capsys, "jobs", "check", "--local")[0] == 0
    code, _, err = run_cli(capsys, "jobs", "check", "--local", "--hostname", "elsewhere")
    assert code == 2 and len(err.splitlines()) == 1 and "exclude each other" in err


def test_several_live_schedulers_need_allow_multiple(store: Store, capsys: Out) -> None:
    store.create_job("scheduler", "a", 1, _ago(1))
    store.create_job("scheduler", "b", 2, _ago(2))
    assert run_cli(capsys, "jobs", "check", "--limit", "2", "--allow-multiple") == (0, "Found 2 alive jobs.\n", "")
    assert run_cli(capsys, "jobs", "check", "--allow-multiple") == (0, "Found one alive job.\n", "")
    code, _, err = run_cli(capsys, "jobs", "check", "--limit", "2")
    assert code == 2 and err == "flowctl: error: --limit 2 needs --allow-multiple\n"


def test_an_unknown_job_type_exits_2_with_one_line(store: Store, capsys: Out) -> None:
    code, out, err = run_cli(capsys, "jobs", "check", "--job-type", "Nope")
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and "'Nope' is not a job type" in err
