"""DagSync (folder -> database through the processor's child processes) and the scheduler CLI."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from flowctl.cli import main
from flowctl.dag_processing.processor import DagFileProcessor
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.scheduler import Scheduler
from flowctl.scheduler.dag_sync import DagSync
from flowctl.scheduler.graphs import GraphCache
from tests.scheduler.helpers import T0, InlineExecutor, settings

DAG_FILE = '''
from datetime import datetime, timezone
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("{dag_id}", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False) as dag:
    EmptyOperator(task_id="only")
'''


def test_a_scan_stores_new_files_skips_unchanged_ones_and_deactivates_vanished_ones(store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    first = folder / "first.py"
    first.write_text(DAG_FILE.format(dag_id="first"))
    (folder / "broken.py").write_text("from flowctl import DAG\nraise RuntimeError('nope')\n")
    conf = settings(tmp_path, core__dags_folder=str(folder))
    with DagFileProcessor(processes=1, timeout=30) as processor:
        sync = DagSync(conf, store, processor)
        report = sync.scan(T0)
        assert (report.parsed, report.dags, report.errors) == (2, 1, 1)
        assert store.get_dag("first").is_active and store.get_dag("first").fileloc == str(first)
        assert [e.filename for e in store.list_import_errors()] == [str(folder / "broken.py")]
        assert sync.scan(T0).parsed == 0
        first.unlink()
        report = sync.scan(T0)
        assert report.deactivated == 1 and not store.get_dag("first").is_active


def test_a_scan_creates_new_dags_paused_when_dags_are_paused_at_creation_unless_the_dag_says(
        store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "quiet.py").write_text(DAG_FILE.format(dag_id="quiet"))
    (folder / "eager.py").write_text(DAG_FILE.format(dag_id="eager").replace(
        "catchup=False", "catchup=False, is_paused_upon_creation=False"))
    conf = settings(tmp_path, core__dags_folder=str(folder), core__dags_are_paused_at_creation="true")
    with DagFileProcessor(processes=1, timeout=30) as processor:
        DagSync(conf, store, processor).scan(T0)
    assert store.get_dag("quiet").is_paused
    assert not store.get_dag("eager").is_paused


def test_new_dags_start_unpaused_by_default_and_turning_the_option_on_later_pauses_none(
        store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "early.py").write_text(DAG_FILE.format(dag_id="early"))
    with DagFileProcessor(processes=1, timeout=30) as processor:
        DagSync(settings(tmp_path, core__dags_folder=str(folder)), store, processor).scan(T0)
        assert not store.get_dag("early").is_paused
        (folder / "late.py").write_text(DAG_FILE.format(dag_id="late"))
        paused_conf = settings(tmp_path, core__dags_folder=str(folder), core__dags_are_paused_at_creation="true")
        assert DagSync(paused_conf, store, processor).scan(T0).parsed == 2  # a restarted processor parses both
    assert not store.get_dag("early").is_paused
    assert store.get_dag("late").is_paused


def test_the_scheduler_command_parses_the_folder_and_schedules_the_latest_run(
        migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "daily.py").write_text(DAG_FILE.format(dag_id="daily"))
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "sequential")
    pid_file = tmp_path / "s.pid"
    assert main(["scheduler", "--num-runs", "3", "--pid", str(pid_file)]) == 0
    assert not pid_file.exists()
    store = Store(make_engine(migrated_sqlite_url))
    try:
        runs = store.list_runs("daily")
        assert len(runs) == 1 and runs[0].run_type == "scheduled"
        jobs = store.list_jobs("scheduler")
        assert len(jobs) == 1 and jobs[0].state == "success" and jobs[0].pid == os.getpid()
    finally:
        store.close()


BRANCHY_FILE = '''
from datetime import datetime, timedelta, timezone
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("branchy", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         dagrun_timeout=timedelta(minutes=5), max_active_tasks=7) as dag:
    start = EmptyOperator(task_id="start", priority_weight=3)
    joined = EmptyOperator(task_id="joined", trigger_rule="one_success", max_active_tis_per_dag=2)
    for i in range(3):
        start >> EmptyOperator(task_id=f"mid{i}", retries=i) >> joined
'''


def test_the_scheduler_builds_a_parsed_versions_graph_at_the_scan_not_at_its_first_run(
        store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "branchy.py").write_text(BRANCHY_FILE)
    conf = settings(tmp_path, core__dags_folder=str(folder))
    reads: list[int] = []
    real_read = store.get_serialized_dag
    with DagFileProcessor(processes=1, timeout=30) as processor:
        scheduler = Scheduler(conf, store, InlineExecutor(store), processor)
        scheduler.start(T0)
        store.get_serialized_dag = lambda sid: reads.append(sid) or real_read(sid)
        scheduler.tick(T0)  # the scan parses the file
        version = store.latest_serialized_dag("branchy")
        store.trigger_dag("branchy", now=T0, run_id="first")
        report = scheduler.tick(T0)
    assert report.queued == 1 and reads == []  # the examination found the graph built already
    # ... the very graph a cold cache builds from the stored version
    assert scheduler.graphs.graph(version.id) == GraphCache(store).graph(version.id)


def test_a_file_that_sleeps_at_import_does_not_stall_the_scheduler_while_it_parses(store: Any, tmp_path: Path) -> None:
    """Before: the scan parsed inside the scheduling round: one such file held every round (and the
    job's heartbeat, so `jobs check` called a healthy scheduler dead) for dagbag_import_timeout."""
    import threading
    import time

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "good.py").write_text(DAG_FILE.format(dag_id="good"))
    (folder / "sleeper.py").write_text("import time\nfrom flowctl import DAG\ntime.sleep(3)\n")
    conf = settings(tmp_path, core__dags_folder=str(folder))
    woken = threading.Event()
    with DagFileProcessor(processes=1, timeout=30) as processor:
        scheduler = Scheduler(conf, store, InlineExecutor(store),
                              dag_sync=DagSync(conf, store, processor, background=True))
        scheduler.dag_sync.wake = woken.set
        scheduler.start(T0)
        started = time.monotonic()
        assert scheduler.tick(T0).parsed_files == 0  # the parse runs beside the round
        assert time.monotonic() - started < 1.5
        assert woken.wait(30)  # a file's answer waiting wakes the scheduler
        parsed = scheduler.tick(T0).parsed_files  # ...whose next round stores what came
        deadline = time.monotonic() + 30
        while parsed < 2 and time.monotonic() < deadline:  # the sleeper's answer comes on its own
            woken.wait(1)
            woken.clear()
            parsed += scheduler.tick(T0).parsed_files
        assert parsed == 2  # each file stored once: no second parse started while the first ran
        assert store.get_dag("good").is_active
        assert [e.filename for e in store.list_import_errors()] == []  # the sleeper is no DAG, no error
        scheduler.shutdown(T0)


def test_a_slow_file_does_not_hold_back_the_dags_of_the_files_parsed_beside_it(store: Any, tmp_path: Path) -> None:
    """Before: a scan stored nothing until its slowest file was done, so one DAG file stuck at import
    delayed every edited file by up to dagbag_import_timeout (30 s against 3 s)."""
    import time

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "a_sleeper.py").write_text("import time\nfrom flowctl import DAG\ntime.sleep(20)\n")
    (folder / "good.py").write_text(DAG_FILE.format(dag_id="good"))
    conf = settings(tmp_path, core__dags_folder=str(folder))
    with DagFileProcessor(processes=2, timeout=30) as processor:
        sync = DagSync(conf, store, processor, background=True)
        started = time.monotonic()
        sync.scan(T0)
        while not store.list_dags() and time.monotonic() - started < 15:
            sync.scan(T0, start=False)
            time.sleep(0.05)
        assert [d.dag_id for d in store.list_dags()] == ["good"]
        assert time.monotonic() - started < 15
        processor.close()


def test_a_file_parsed_alone_cannot_take_a_dag_id_that_an_earlier_file_defines(store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    first, second = folder / "a.py", folder / "b.py"
    first.write_text(DAG_FILE.format(dag_id="same"))
    second.write_text(DAG_FILE.format(dag_id="same").replace('task_id="only"', 'task_id="from_b"'))
    conf = settings(tmp_path, core__dags_folder=str(folder))
    with DagFileProcessor(processes=1, timeout=30) as processor:
        sync = DagSync(conf, store, processor)
        sync.scan(T0)
        stat = second.stat()
        os.utime(second, (stat.st_atime, stat.st_mtime + 5))  # edited: parsed again, without a.py
        assert sync.scan(T0).parsed == 1
    assert store.get_dag("same").fileloc == str(first)
    assert "only" in str(store.latest_serialized_dag("same").data)
    assert "from_b" not in str(store.latest_serialized_dag("same").data)
    [error] = store.list_import_errors()
    assert error.filename == str(second) and "already defined in " + str(first) in error.stacktrace


@pytest.mark.postgres
def test_a_dag_the_database_cannot_store_is_an_import_error_and_the_files_other_dags_are_stored(
        pg_store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    nul = DAG_FILE.format(dag_id="nul").replace("catchup=False", "catchup=False, description='a\\x00b'")
    (folder / "both.py").write_text(nul + DAG_FILE.format(dag_id="fine").replace("as dag:", "as dag2:"))
    (folder / "other.py").write_text(DAG_FILE.format(dag_id="other"))
    conf = settings(tmp_path, core__dags_folder=str(folder))
    with DagFileProcessor(processes=1, timeout=30) as processor:
        DagSync(conf, store=pg_store, processor=processor).scan(T0)  # once: ValueError, the scheduler ended
    assert pg_store.get_dag("fine").is_active and pg_store.get_dag("other").is_active
    [error] = pg_store.list_import_errors()
    assert error.filename == str(folder / "both.py")
    assert "DAG 'nul' cannot be stored" in error.stacktrace and "NUL" in error.stacktrace


@pytest.mark.postgres
def test_an_import_error_holding_a_nul_character_is_recorded_with_it_escaped(pg_store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "nul.py").write_text("from flowctl import DAG\nraise ValueError('before \\x00 after')\n")
    conf = settings(tmp_path, core__dags_folder=str(folder))
    with DagFileProcessor(processes=1, timeout=30) as processor:
        DagSync(conf, store=pg_store, processor=processor).scan(T0)  # once: ValueError, the scheduler ended
    [error] = pg_store.list_import_errors()
    assert "ValueError: before \\x00 after" in error.stacktrace
