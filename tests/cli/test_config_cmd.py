"""`flowctl config`, `flowctl version` and the one-line error contract of the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.cli import main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    return tmp_path


def test_config_get_prints_the_effective_value(home: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__PARALLELISM", "7")
    assert main(["config", "get", "core", "parallelism"]) == 0
    assert capsys.readouterr().out.strip() == "7"


def test_config_list_as_json_masks_secrets(home: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", "super-secret-key")
    assert main(["config", "list", "--output", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {(r["section"], r["key"]): r for r in rows}
    assert by_name[("core", "fernet_key")]["value"] == "***"
    assert by_name[("core", "fernet_key")]["source"] == "env FLOWCTL__CORE__FERNET_KEY"
    assert ("database", "sql_alchemy_conn") in by_name


def test_an_unknown_option_is_one_line_and_a_non_zero_exit(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "get", "core", "nope"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["flowctl: error: [core] nope is not a flowctl option"]


def test_a_bad_config_value_is_one_line_naming_the_option(home: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CORE__PARALLELISM", "zero")
    assert main(["config", "get", "core", "parallelism"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[core] parallelism" in err[0]


def test_a_bad_argument_is_one_line_and_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "list", "--output", "xml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowctl: error:") and "xml" in err[0]


def test_the_console_script_prints_its_version() -> None:
    out = subprocess.run([sys.executable, "-m", "flowctl", "version"], capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("config", "version", "dags"):
        assert name in out


def test_config_get_masks_secrets_and_get_value_prints_them_for_scripts_as_airflow(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's `config get-value core fernet_key` is how a key is handed to another host or container."""
    monkeypatch.setenv("FLOWCTL__CORE__EXECUTOR", "sequential")
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", "postgresql://ada:s3cret@db:5432/flowctl")
    assert main(["config", "get-value", "core", "executor"]) == 0
    assert capsys.readouterr().out == "sequential\n"
    assert main(["config", "get", "database", "sql_alchemy_conn"]) == 0
    out = capsys.readouterr().out
    assert out == "postgresql://ada:***@db:5432/flowctl\n" and "s3cret" not in out
    assert main(["config", "get-value", "database", "sql_alchemy_conn"]) == 0
    assert capsys.readouterr().out == "postgresql://ada:s3cret@db:5432/flowctl\n"
    assert main(["config", "get-value", "core", "nope"]) == 1
    assert capsys.readouterr().err == "flowctl: error: [core] nope is not a flowctl option\n"



@pytest.mark.parametrize("command", [["config", "get", "core", "fernet_key"], ["db", "init"]])
def test_a_config_folder_given_with_config_is_one_line_and_exit_1(home: Path, capsys: pytest.CaptureFixture[str],
                                                                  command: list[str]) -> None:
    """Before: `config get` printed an empty line (the folder was skipped: defaults); `db init` a traceback."""
    folder = home / "etc"
    folder.mkdir()
    assert main(["--config", str(folder), *command]) == 1
    assert capsys.readouterr().err == f"flowctl: error: config file {folder} cannot be read: Is a directory\n"


def test_a_config_file_that_is_not_utf8_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "bad.cfg"
    path.write_bytes(b"[core]\nexecutor = \xff\n")
    assert main(["--config", str(path), "config", "get", "core", "executor"]) == 1
    assert capsys.readouterr().err == (f"flowctl: error: config file {path} is not UTF-8 text "
                                       "(byte 0xff at offset 18)\n")


def test_config_get_list_and_info_mask_a_password_in_a_urls_query(home: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__CELERY__BROKER_URL", "redis://h:6379/0?password=QPW1")
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u@h/db?password=QPW3")
    assert main(["config", "get", "celery", "broker_url"]) == 0
    assert capsys.readouterr().out == "redis://h:6379/0?password=***\n"
    assert main(["config", "list", "-o", "json"]) == 0
    rows = {(r["section"], r["key"]): r["value"] for r in json.loads(capsys.readouterr().out)}
    assert rows[("database", "sql_alchemy_conn")] == "postgresql://u@h/db?password=***"
    assert main(["info", "-o", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["flowctl"]["sql_alchemy_conn"] == "postgresql://u@h/db?password=***"
    assert "QPW" not in out
