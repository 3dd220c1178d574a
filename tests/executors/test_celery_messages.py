"""The Celery executor's messages and where a worker finds the DAG file (no broker needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("celery", reason="the celery extra is not installed (pip install -e '.[dev]')")

from flowctl.core.keys import TaskInstanceKey  # noqa: E402
from flowctl.executors.base import Workload  # noqa: E402
from flowctl.core.masking import redact_url  # noqa: E402
from flowctl.executors.celery import payload, worker_fileloc  # noqa: E402

KEY = TaskInstanceKey("etl", "manual__1", "load", 3)


def test_the_message_is_plain_json_data_naming_the_file_relative_to_the_dags_folder(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    file = dags / "team" / "etl.py"
    file.write_text("")
    message = payload(Workload(KEY, 2, str(file), queue="big"), dags)
    assert message == {"dag_id": "etl", "run_id": "manual__1", "task_id": "load", "map_index": 3, "try_number": 2,
                       "fileloc": str(file), "relative_fileloc": "team/etl.py", "queue": "big"}
    assert payload(Workload(KEY, 2, "/elsewhere/etl.py"), dags)["relative_fileloc"] is None


def test_a_worker_runs_the_scheduler_s_file_or_the_same_file_under_its_own_dags_folder(tmp_path: Path) -> None:
    scheduler_path = tmp_path / "scheduler" / "dags" / "team" / "etl.py"
    mounted = tmp_path / "worker" / "dags"
    (mounted / "team").mkdir(parents=True)
    (mounted / "team" / "etl.py").write_text("")
    assert worker_fileloc(str(scheduler_path), "team/etl.py", mounted) == str(mounted / "team" / "etl.py")
    scheduler_path.parent.mkdir(parents=True)
    scheduler_path.write_text("")
    assert worker_fileloc(str(scheduler_path), "team/etl.py", mounted) == str(scheduler_path)  # present here too
    missing = str(tmp_path / "gone.py")  # found nowhere: the runner reports the missing file
    assert worker_fileloc(missing, "gone.py", mounted) == missing
    assert worker_fileloc(missing, None, mounted) == missing


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
    ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://h:6379/0?password=QPW1", "redis://h:6379/0?password=***"),
    ("sentinel://:A@h1:26379;sentinel://:B@h2:26379", "sentinel://:***@h1:26379;sentinel://:***@h2:26379"),
])
def test_a_broker_url_is_shown_without_its_password(url: str, shown: str) -> None:
    """The broker the scheduler cannot reach is named with the masking `flowctl config` uses."""
    assert redact_url(url) == shown


def test_a_try_sent_while_the_redis_broker_is_down_is_rejected_and_the_scheduler_goes_on(tmp_path: Path) -> None:
    """Redis down mid-run: the result backend's subscription gives up with a RuntimeError of its own
    ("The Celery application must be restarted"), which killed the scheduler with a traceback."""
    import socket
    import time

    from flowctl.executors.base import Outcome
    from flowctl.executors.celery import CeleryExecutor
    from flowctl.settings import Settings

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}).replace(
        celery__broker_url=down, celery__result_backend=down)
    executor = CeleryExecutor(settings)
    started = time.monotonic()
    for task_id in ("a", "b"):
        executor.submit(Workload(TaskInstanceKey("etl", "manual__1", task_id, -1), 0, str(tmp_path / "etl.py")))
    events = executor.sync()
    assert [(e.key.task_id, e.outcome) for e in events] == [("a", Outcome.REJECTED), ("b", Outcome.REJECTED)]
    assert "broker" in events[0].detail
    assert executor.running == set() and executor.in_flight() == {}
    assert time.monotonic() - started < 10, "a broker that is down must not stall the scheduler loop"


def test_a_result_backend_that_is_down_is_logged_once_until_it_answers_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The scheduler reads results several times a second: one warning per outage, not one per read."""
    import logging
    import socket

    from flowctl.executors.celery import CeleryExecutor, _Sent
    from flowctl.settings import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}).replace(
        celery__broker_url=down, celery__result_backend=down)
    executor = CeleryExecutor(settings)
    executor._sent[KEY] = _Sent(Workload(KEY, 0, "etl.py"), executor.app.AsyncResult("some-task"))
    with caplog.at_level(logging.INFO, logger="flowctl.executors.celery"):
        for _ in range(3):
            assert executor.sync() == []
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "cannot read Celery results" in caplog.records[0].getMessage()
    caplog.clear()
    executor._sent[KEY] = _Sent(Workload(KEY, 0, "etl.py"), _Answering())
    with caplog.at_level(logging.INFO, logger="flowctl.executors.celery"):
        assert [e.key for e in executor.sync()] == [KEY]
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "again" in caplog.records[0].getMessage()


class _Answering:
    """A result the backend answers: the try succeeded."""

    state = "SUCCESS"

    def forget(self) -> None:
        pass
