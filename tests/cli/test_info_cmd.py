"""`flowctl info` and `flowctl cheat-sheet`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flowctl.cli import main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    for var in ("FLOWCTL__CORE__DAGS_FOLDER", "FLOWCTL__LOGGING__BASE_LOG_FOLDER"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_info_shows_versions_executor_folders_and_the_database_url_with_its_password_masked(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", "postgresql://ada:s3cret@db:5432/flowctl")
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "celery")
    assert main(["info", "-o", "json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert "s3cret" not in out
    assert info["flowctl"]["sql_alchemy_conn"] == "postgresql://ada:***@db:5432/flowctl"
    assert info["flowctl"]["executor"] == "celery"
    assert info["flowctl"]["dags_folder"] == str(home / "dags")
    assert info["flowctl"]["base_log_folder"] == str(home / "logs")
    assert info["system"]["python_version"] == sys.version.split()[0] and info["system"]["platform"]
    assert main(["info"]) == 0
    table = capsys.readouterr().out
    assert "s3cret" not in table and "version" in table and "python_version" in table



def test_info_as_yaml_holds_what_its_json_holds(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    assert main(["info", "-o", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["info", "-o", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == as_json and "flowctl" in as_json

def test_cheat_sheet_lists_every_command_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cheat-sheet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [" ".join(line.split()[:3]) for line in lines]
    for command in ("flowctl dags backfill", "flowctl jobs check", "flowctl db migrate", "flowctl config get-value",
                    "flowctl tasks states-for-dag-run"):
        assert any(name.startswith(command) for name in names), command
    assert any(line.startswith("flowctl info ") and "version" in line for line in lines)
