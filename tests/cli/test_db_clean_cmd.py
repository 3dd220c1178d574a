"""`flowctl db clean | export-archived | drop-archived`: Airflow 2's options, a typed confirmation,
archives by default, and nothing deleted by surprise."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowctl.cli import main
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from tests.db.samples import T0, make_run
from tests.db.test_clean_archive import finish

BEFORE = "2024-01-11"  # T0 + 10 days: runs of days 0-9 are old


class Terminal(io.StringIO):
    """stdin as when a person sits at the terminal, typing ``text``."""

    def isatty(self) -> bool:
        return True


def configured_store(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A Store on the migrated database at ``url``, which the CLI is configured to use; two old
    finished runs, one recent one and an old audit row in it; its archive tables dropped afterwards
    (the PostgreSQL database is shared by the session)."""
    monkeypatch.setenv("FLOWCTL_HOME", str(home))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", url)
    store = Store(make_engine(url))
    for day in (1, 2, 20):
        finish(store, make_run(store, day=day))
    store.audit("trigger", now=T0, source="cli")
    yield store
    store.drop_archive_tables(store.archived_tables())
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """That store on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")
    yield from configured_store(url, tmp_path / "home", monkeypatch)


@pytest.fixture
def sqlite_db(migrated_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """That store on SQLite only, for behaviour that does not depend on the database."""
    yield from configured_store(migrated_sqlite_url, tmp_path / "home", monkeypatch)


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def test_clean_asks_for_the_phrase_then_archives_and_deletes(
        db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("delete rows\n"))
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE]) == 0
    captured = capsys.readouterr()
    assert f"about to delete rows older than {BEFORE}T00:00:00+00:00 from: dag_run, task_instance" in captured.err
    assert "Type 'delete rows' to go ahead" in captured.err
    assert "deleted 11 rows older than" in captured.out  # 2 runs, 4 task instances, 2 tries, 2 XComs, 1 log
    assert [r.logical_date.day for r in db.list_runs("etl")] == [21]
    archives = {name.split("__")[1]: name for name in db.archived_tables()}
    assert sorted(archives) == ["dag_run", "log", "task_instance", "task_instance_history", "xcom"]
    assert (count(db, archives["dag_run"]), count(db, archives["task_instance"]), count(db, archives["log"])) == (
        2, 4, 1)
    assert archives["dag_run"] in captured.out  # the report names each table's archive


@pytest.mark.parametrize("answer", ["no\n", "delete\n", "\n", "DELETE ROWS please\n"])
def test_any_other_answer_deletes_nothing_and_fails(
        db: Store, answer: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE]) == 1
    assert "not confirmed" in capsys.readouterr().err
    assert len(db.list_runs("etl")) == 3 and count(db, "log") == 1 and db.archived_tables() == []


def test_without_a_terminal_or_yes_it_fails_in_one_line_and_deletes_nothing(
        db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("delete rows\n"))  # a pipe: not read, whatever it holds
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stdin is not a terminal" in err and "--yes" in err, err
    assert len(db.list_runs("etl")) == 3 and db.archived_tables() == []


def test_yes_cleans_without_asking(db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"]) == 0
    assert len(db.list_runs("etl")) == 1 and count(db, "log") == 0 and len(db.archived_tables()) == 5


def test_a_dry_run_asks_nothing_and_deletes_nothing(
        db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--dry-run", "-o", "json"]) == 0
    rows = {r["table"]: r["would_delete"] for r in json.loads(capsys.readouterr().out)}
    assert (rows["dag_run"], rows["task_instance"], rows["log"]) == (2, 4, 1)
    assert len(db.list_runs("etl")) == 3 and db.archived_tables() == []


def test_skip_archive_deletes_without_a_copy(db: Store) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--skip-archive", "--yes"]) == 0
    assert len(db.list_runs("etl")) == 1 and db.archived_tables() == []


def test_tables_limits_the_clean_to_those_tables_and_the_rows_that_go_with_them(
        db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--tables", "task_instance,log", "-y",
                 "-o", "json"]) == 0
    report = {r["table"]: r["deleted"] for r in json.loads(capsys.readouterr().out)}
    assert report == {"log": 1, "task_instance": 4, "task_instance_history": 2, "task_reschedule": 0, "xcom": 2}
    assert len(db.list_runs("etl")) == 3 and count(db, "task_instance") == 2 and count(db, "log") == 0


def test_an_unknown_table_is_one_line_naming_the_valid_ones(
        sqlite_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--tables", "dag_run,dagrun", "-y"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown table dagrun" in err, err
    assert "dag_run, task_instance, task_instance_history, task_reschedule, xcom, log, job" in err
    assert len(sqlite_db.list_runs("etl")) == 3


@pytest.mark.parametrize("size", ["0", "-5", "many"])
def test_a_bad_batch_size_is_one_line(sqlite_db: Store, size: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--batch-size", size, "-y"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch-size" in err, err
    assert len(sqlite_db.list_runs("etl")) == 3


def test_verbose_prints_each_batch_as_it_goes_on_stderr(sqlite_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "--batch-size", "1", "-v", "-y",
                 "--tables", "dag_run"]) == 0
    out = capsys.readouterr().err
    assert "dag_run: archived and deleted 1 rows (1 so far)" in out
    assert "dag_run: archived and deleted 1 rows (2 so far)" in out
    assert "task_instance: archived and deleted 2 rows (4 so far)" in out


def test_export_writes_one_csv_per_archive_with_the_archived_rows(
        db: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    archives = db.archived_tables()
    out = tmp_path / "export"
    assert main(["db", "export-archived", "--output-path", str(out), "--export-format", "csv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.csv" for name in archives)
    dag_run_csv = next(out.glob("_flowctl_deleted__dag_run__*.csv"))
    with dag_run_csv.open(newline="") as f:
        runs = list(csv.DictReader(f))
    assert sorted(r["run_id"] for r in runs) == ["scheduled__2024-01-02T00:00:00+00:00",
                                                 "scheduled__2024-01-03T00:00:00+00:00"]
    assert {"id", "dag_id", "state", "logical_date", "conf"} <= set(runs[0])
    assert db.archived_tables() == archives  # exported, not dropped
    assert "exported 2 rows of _flowctl_deleted__dag_run__" in capsys.readouterr().out


def test_export_of_some_tables_then_drop_with_yes(db: Store, tmp_path: Path) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    assert main(["db", "export-archived", "--output-path", str(tmp_path), "--tables", "log,xcom",
                 "--drop-archives", "-y"]) == 0
    assert sorted(p.name.split("__")[1] for p in tmp_path.glob("*.csv")) == ["log", "xcom"]
    assert sorted(n.split("__")[1] for n in db.archived_tables()) == [
        "dag_run", "task_instance", "task_instance_history"]


def test_export_with_drop_asks_and_keeps_the_archives_on_no(
        sqlite_db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    assert main(["db", "export-archived", "--output-path", str(tmp_path), "--drop-archives"]) == 1
    assert len(list(tmp_path.glob("*.csv"))) == 5 and len(sqlite_db.archived_tables()) == 5


def test_export_with_drop_and_no_terminal_fails_before_doing_anything(
        sqlite_db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["db", "export-archived", "--output-path", str(tmp_path / "out"), "--drop-archives"]) == 2
    assert "stdin is not a terminal" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and len(sqlite_db.archived_tables()) == 5


def test_drop_archived_asks_for_its_phrase_and_drops(
        db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    archives = db.archived_tables()
    monkeypatch.setattr("sys.stdin", Terminal("delete rows\n"))  # the clean's phrase is not the drop's
    assert main(["db", "drop-archived"]) == 1
    assert db.archived_tables() == archives
    monkeypatch.setattr("sys.stdin", Terminal("drop archives\n"))
    assert main(["db", "drop-archived"]) == 0
    assert db.archived_tables() == []
    with db.engine.connect() as conn:
        assert not [n for n in sa.inspect(conn).get_table_names() if n.startswith("_flowctl_deleted__")]
    assert capsys.readouterr().out.count("dropped _flowctl_deleted__") == len(archives)


def test_drop_archived_of_some_tables_with_yes(db: Store) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    assert main(["db", "drop-archived", "--tables", "dag_run", "-y"]) == 0
    assert sorted(n.split("__")[1] for n in db.archived_tables()) == [
        "log", "task_instance", "task_instance_history", "xcom"]


def test_drop_archived_without_a_terminal_or_yes_fails_in_one_line(
        sqlite_db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    monkeypatch.setattr("sys.stdin", io.StringIO("drop archives\n"))
    assert main(["db", "drop-archived"]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and len(sqlite_db.archived_tables()) == 5


def test_drop_archived_with_nothing_to_drop_says_so(sqlite_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "drop-archived", "-y"]) == 0
    assert "no archive tables" in capsys.readouterr().out


def test_the_json_report_names_each_archive_and_stays_json_when_verbose(
        sqlite_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y", "-v", "-o", "json"]) == 0
    report = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    assert report["dag_run"]["deleted"] == 2 and report["dag_run"]["archive_table"] in sqlite_db.archived_tables()
    assert report["job"] == {"table": "job", "deleted": 0, "archive_table": ""}


def test_db_check_still_passes_with_archive_tables(sqlite_db: Store) -> None:
    main(["db", "clean", "--clean-before-timestamp", BEFORE, "-y"])
    assert main(["db", "check"]) == 0


def test_a_naive_timestamp_is_in_the_default_timezone_as_every_other_cli_date(
        sqlite_db: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: read as UTC, while dags trigger -e and the README take [core] default_timezone."""
    monkeypatch.setenv("FLOWCTL__CORE__DEFAULT_TIMEZONE", "Asia/Tokyo")
    assert main(["db", "clean", "--clean-before-timestamp", "2030-01-01", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("older than 2029-12-31T15:00:00+00:00")
    assert main(["db", "clean", "--clean-before-timestamp", "2030-01-01T00:00:00+00:00", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("older than 2030-01-01T00:00:00+00:00")
