"""Fixtures shared by the CLI tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def sqlite_home(tmp_path: Path, migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FLOWCTL_HOME in a temporary folder with a migrated SQLite database and a dags folder, in this
    process's environment (and so in the children it starts)."""
    folder = tmp_path / "dags"
    folder.mkdir()
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", migrated_sqlite_url)
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("FLOWCTL__CORE__DAGBAG_IMPORT_TIMEOUT", "10")
    return tmp_path


@pytest.fixture()
def keyed_home(sqlite_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:func:`sqlite_home` with a fernet key (connection passwords and variables need one)."""
    from flowctl.db.secrets import generate_key

    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", generate_key())
    return sqlite_home


#: The DAG file of ``tests.db.test_operations.chain_dag`` (the sample ``etl``): the commands that parse
#: the DAG's file themselves (tasks list, dags backfill, next-execution) need it on disk.
ETL_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("etl", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=True, default_args={"retries": 1}):
    EmptyOperator(task_id="extract") >> EmptyOperator(task_id="transform") >> EmptyOperator(task_id="load")
    EmptyOperator(task_id="audit")
'''


def write_etl_dag(folder: Path) -> Path:
    """Write the sample ``etl`` DAG's file into ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "etl.py"
    path.write_text(ETL_SOURCE)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``flowctl ARGS`` in this process: its exit code, stdout and stderr."""
    from flowctl.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
