"""`flowctl db …`: init (with generated secrets), check, upgrade/downgrade, reset, clean."""
from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from flowctl.cli import main
from flowctl.cli.db_cmd import default_config_text, set_if_empty
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.settings import Settings
from tests.db.samples import make_run


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    for var in ("FLOWCTL__CORE__FERNET_KEY", "FLOWCTL__WEBSERVER__SECRET_KEY", "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def _config(home: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(home / "config.cfg")
    return parser


def _store(home: Path) -> Store:
    return Store(make_engine(f"sqlite:///{home / 'flowctl.db'}"))


def test_db_init_creates_the_config_with_secrets_and_a_migrated_database(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "init"]) == 0
    cfg = _config(home)
    assert len(cfg["core"]["fernet_key"]) == 44 and cfg["webserver"]["secret_key"]
    assert "database ready at revision" in capsys.readouterr().out
    store = _store(home)
    assert store.get_pool("default_pool").slots == 128
    store.close()


def test_db_migrate_creates_and_migrates_the_database_without_writing_config(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate"]) == 0
    assert "database at revision" in capsys.readouterr().out
    assert not (home / "config.cfg").exists()
    store = _store(home)
    assert store.get_pool("default_pool").slots == 128
    store.close()
    assert main(["db", "check"]) == 0
    assert main(["db", "migrate", "-r", "head"]) == 0  # again: nothing to do


def test_a_second_db_init_keeps_the_secrets(home: Path) -> None:
    main(["db", "init"])
    first = (home / "config.cfg").read_text()
    assert main(["db", "init"]) == 0
    assert (home / "config.cfg").read_text() == first


def test_db_init_never_overwrites_a_key_that_is_set(home: Path) -> None:
    home.mkdir()
    (home / "config.cfg").write_text("[core]\nfernet_key = keep-me\n[webserver]\nsecret_key =\n")
    main(["db", "init"])
    cfg = _config(home)
    assert cfg["core"]["fernet_key"] == "keep-me" and cfg["webserver"]["secret_key"]


def test_a_key_set_in_the_environment_is_not_written_to_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__WEBSERVER__SECRET_KEY", "from-env")
    main(["db", "init"])
    assert not _config(home)["webserver"].get("secret_key")


def test_set_if_empty_fills_an_empty_key_and_adds_missing_sections() -> None:
    text = "[core]\n# a comment\nfernet_key =\n"
    filled = set_if_empty(text, "core", "fernet_key", "K")
    assert "fernet_key = K" in filled and "# a comment" in filled
    assert set_if_empty(filled, "core", "fernet_key", "other") == filled
    assert set_if_empty(text, "webserver", "secret_key", "S").endswith("[webserver]\nsecret_key = S\n")


def test_the_default_config_file_is_a_valid_config(tmp_path: Path) -> None:
    (tmp_path / "config.cfg").write_text(default_config_text())
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}, path=tmp_path / "config.cfg")
    assert settings.get("core", "xcom_max_size") == 49344


def test_db_check_on_an_empty_database_is_one_line_and_fails(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()
    assert main(["db", "check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flowctl: error: the database has no flowctl tables") and err.count("\n") == 1


def test_db_check_passes_after_init(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "init"])
    assert main(["db", "check"]) == 0
    assert "database OK" in capsys.readouterr().out


def test_downgrade_to_base_then_upgrade_restores_the_schema(home: Path) -> None:
    main(["db", "init"])
    assert main(["db", "downgrade", "--to", "base", "--yes"]) == 0
    assert main(["db", "check"]) == 1
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "check"]) == 0


def test_db_reset_needs_yes(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "init"])
    assert main(["db", "reset"]) == 2
    assert "--yes" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["-r", "--to-revision"])
def test_upgrade_and_downgrade_take_airflows_to_revision_and_r(home: Path, option: str) -> None:
    """Before: "No such option" (flowctl had --to only; Airflow 2 has -r / --to-revision)."""
    main(["db", "init"])
    assert main(["db", "downgrade", option, "base", "-y"]) == 0
    assert main(["db", "check"]) == 1
    assert main(["db", "upgrade", option, "head"]) == 0
    assert main(["db", "check"]) == 0


def test_db_reset_takes_airflows_y(home: Path) -> None:
    """Before: "No such option '-y'" (Airflow 2: -y / --yes)."""
    main(["db", "init"])
    assert main(["db", "reset", "-y"]) == 0


def test_db_reset_empties_the_database_but_keeps_default_pool(home: Path) -> None:
    main(["db", "init"])
    store = _store(home)
    make_run(store)
    store.close()
    assert main(["db", "reset", "--yes"]) == 0
    store = _store(home)
    assert store.list_runs() == [] and store.get_pool("default_pool").slots == 128
    store.close()


def test_db_clean_dry_run_counts_and_clean_deletes(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "init"])
    store = _store(home)
    run = make_run(store)
    store.set_run_state(run.key, "queued", "success")
    store.close()
    capsys.readouterr()
    assert main(["db", "clean", "--older-than", "2025-01-01", "--dry-run", "-o", "json"]) == 0
    rows = {r["table"]: r["would_delete"] for r in json.loads(capsys.readouterr().out)}
    assert (rows["dag_run"], rows["task_instance"]) == (1, 2)
    assert main(["db", "clean", "--older-than", "2025-01-01", "--yes"]) == 0  # the old flag name still works
    assert "deleted 3 rows older than 2025-01-01T00:00:00+00:00" in capsys.readouterr().out
    store = _store(home)
    assert store.list_runs() == [] and len(store.archived_tables()) == 2  # dag_run, task_instance
    store.close()


def test_db_clean_explains_a_bad_date(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "init"])
    assert main(["db", "clean", "--older-than", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert "'last tuesday' is not a date or date-time (YYYY-MM-DD" in err and len(err.splitlines()) == 1


@pytest.mark.postgres
def test_db_init_works_on_postgresql(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", pg_url)
    assert main(["db", "init"]) == 0
    assert main(["db", "check"]) == 0
    store = Store(make_engine(pg_url))
    assert store.get_pool("default_pool").slots == 128
    store.close()


@pytest.mark.parametrize("argv", [["dags", "list-runs", "etl"], ["variables", "list"], ["pools", "list"]])
def test_a_command_before_db_init_says_in_one_line_to_run_it(
        home: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir()  # the default SQLite file can be made there, but holds no table
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "flowctl db init" in err and "not initialised" in err, err


def test_a_database_it_cannot_reach_is_one_line_too(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/no/such/folder/flowctl.db")
    assert main(["dags", "list-runs", "etl"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot use the metadata database" in err, err


def test_the_config_with_its_secrets_is_only_ever_readable_by_its_owner_and_appears_whole(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written beside it with mode 0600 and renamed into place: at no moment can another user read the
    fernet key, and a crash mid-write leaves the previous file, not a truncated one."""
    import os

    from flowctl.cli import db_cmd, files

    home.mkdir(parents=True)
    (home / "config.cfg").write_text("[core]\nload_examples = False\n")  # a person's own setting, kept
    (home / "config.cfg").chmod(0o644)
    seen: list[tuple[int, str, str]] = []
    rename = os.replace

    def watched(source: str, target: str) -> None:
        seen.append((os.stat(source).st_mode & 0o777, Path(target).read_text(), Path(source).read_text()))
        rename(source, target)

    monkeypatch.setattr(files.os, "replace", watched)
    old_umask = os.umask(0o022)
    try:
        written = db_cmd.ensure_config_secrets(Settings.load())
    finally:
        os.umask(old_umask)
    assert written == ["[core] fernet_key", "[webserver] secret_key"]
    [(mode, before, after)] = seen
    assert mode == 0o600 and before == "[core]\nload_examples = False\n" and "fernet_key = " in after
    assert (home / "config.cfg").stat().st_mode & 0o777 == 0o600
    assert _config(home)["core"]["load_examples"] == "False"
    assert sorted(p.name for p in home.iterdir()) == ["config.cfg"]  # no temporary left


@pytest.mark.parametrize("command", [["db", "migrate", "-r", "bogus"], ["db", "upgrade", "--to", "bogus"],
                                     ["db", "downgrade", "--to", "bogus", "-y"]])
def test_a_revision_alembic_does_not_know_is_one_line_and_exit_2(home: Path, capsys: pytest.CaptureFixture[str],
                                                                 command: list[str]) -> None:
    """Before: alembic's CommandError traceback."""
    main(["db", "init"])
    capsys.readouterr()
    assert main(command) == 2
    out = capsys.readouterr()
    assert out.out == ""
    from flowctl.db.migrate import revisions

    known = revisions()
    assert out.err == (f"flowctl: error: Invalid value for --to-revision: Can't locate revision identified by 'bogus' "
                       f"(flowctl's are base, {known[0]} to {known[-1]}, head)\n")


def test_a_database_at_an_older_revision_says_in_one_line_to_migrate_it(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "init"]) == 0
    assert main(["db", "downgrade", "-r", "0002", "-y"]) == 0  # ab_user has no session_epoch yet
    capsys.readouterr()
    assert main(["users", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "older than this flowctl" in err and "flowctl db migrate" in err, err
