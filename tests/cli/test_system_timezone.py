"""``[core] default_timezone = system``: this machine's zone, by name, as Airflow's ``system`` is.

The machine's zone is set with the TZ variable here (the parser children inherit it).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.settings import Settings
from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]

TOKYO = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def report(dag):
    print("zone", dag.timezone, "start", dag.start_date.isoformat())

with DAG("tokyo", schedule="0 6 * * *", start_date=datetime(2024, 1, 1), catchup=True) as dag:
    PythonOperator(task_id="report", python_callable=report)
'''


def test_system_is_taken_and_shown_as_written_but_used_as_the_machines_zone_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    settings = Settings.load({"FLOWCTL__CORE__DEFAULT_TIMEZONE": "System", "FLOWCTL_HOME": "/nonexistent"})
    assert settings.get("core", "default_timezone") == "system"  # what `config get-value` prints, as Airflow's
    assert settings.default_timezone == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "America/Chicago")
    assert settings.default_timezone == "America/Chicago"


def test_naive_dates_of_a_dag_file_parsed_under_system_are_in_the_machines_zone(
        sqlite_home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parse (child processes) and the try (this process) both see Asia/Tokyo, not the word system."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.setenv("FLOWCTL__CORE__DEFAULT_TIMEZONE", "system")
    (sqlite_home / "dags" / "tokyo.py").write_text(TOKYO)
    code, out, err = run_cli(capsys, "dags", "next-execution", "tokyo")
    assert (code, out, err) == (0, "2023-12-31T21:00:00+00:00\n", "")  # 06:00 in Tokyo on 2024-01-01
    code, out, err = run_cli(capsys, "dags", "test", "tokyo", "2024-01-02T06:00")
    assert code == 0, out + err
    assert "zone Asia/Tokyo start 2024-01-01T00:00:00+09:00" in out


def test_a_bad_default_timezone_is_still_one_error_line(sqlite_home: Path) -> None:
    env = {**os.environ, "FLOWCTL__CORE__DEFAULT_TIMEZONE": "Mars/Olympus_Mons"}
    done = subprocess.run([sys.executable, "-m", "flowctl", "dags", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.splitlines() == ["flowctl: error: [core] default_timezone: expected utc, system or a time "
                                        "zone name such as Europe/Paris, got 'Mars/Olympus_Mons'"]


def test_system_whose_zone_has_no_name_is_one_error_line(sqlite_home: Path) -> None:
    """A POSIX rule in TZ with an offset of no whole hours: no zone name, no Etc/GMT zone either."""
    env = {**os.environ, "FLOWCTL__CORE__DEFAULT_TIMEZONE": "system", "TZ": "XST-5:30"}
    done = subprocess.run([sys.executable, "-m", "flowctl", "dags", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("flowctl: error: [core] default_timezone = 'system': ") and "UTC+05:30" in line
