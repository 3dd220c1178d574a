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
from flowctl.scheduler.dag_sync import DagSync
from tests.scheduler.helpers import T0, settings

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
