"""Alembic migrations: every version up and down on both databases; models and migrations never drift."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from flowctl.core.errors import ConfigError
from flowctl.db import migrate
from flowctl.db.engine import make_engine
from flowctl.db.records import RunKey
from flowctl.db.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> sa.Engine:
    url = request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'pg'}_url")
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return engine


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_a_fresh_database_migrated_to_head_matches_the_models(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)
    assert migrate.drift(empty_engine) == []
    assert migrate.check(empty_engine) == []


def test_every_migration_goes_up_and_down_one_step_at_a_time(empty_engine: sa.Engine) -> None:
    revisions = migrate.revisions()
    for rev in revisions:
        migrate.upgrade(empty_engine, rev)
        assert migrate.current(empty_engine) == rev
    for previous in reversed(["base", *revisions[:-1]]):
        migrate.downgrade(empty_engine, previous)
        assert migrate.current(empty_engine) == (None if previous == "base" else previous)
    assert _tables(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.head()


def test_check_says_how_to_fix_an_unmigrated_database(empty_engine: sa.Engine) -> None:
    assert migrate.check(empty_engine) == ["the database has no flowctl tables: run `flowctl db init`"]


def test_check_reports_a_column_the_migrations_do_not_know(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE dag ADD COLUMN surprise INTEGER")
    assert any("surprise" in problem for problem in migrate.check(empty_engine))


def test_the_migration_creates_default_pool(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pool, slots FROM slot_pool").all() == [("default_pool", 128)]


def test_migrations_never_import_flowctl() -> None:
    for path in (migrate.migrations_dir() / "versions").glob("*.py"):
        assert "flowctl" not in path.read_text(encoding="utf-8").replace("flowctl/db", ""), path.name


def test_a_missing_migrations_folder_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOWCTL_MIGRATIONS", str(tmp_path))
    with pytest.raises(ConfigError, match="FLOWCTL_MIGRATIONS"):
        migrate.migrations_dir()


def test_import_errors_keep_their_ids_across_0002_and_deleted_ids_are_never_handed_out_again(
        empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0001")
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO import_error (filename, stacktrace, timestamp) VALUES "
                             "('/dags/a.py', 'A', '2024-01-01 00:00:00+00'), ('/dags/b.py', 'B', '2024-01-01 00:00:00+00')")
    migrate.upgrade(empty_engine, "0002")
    with empty_engine.begin() as conn:
        before = conn.exec_driver_sql("SELECT id, filename FROM import_error ORDER BY id").all()
        assert [f for _, f in before] == ["/dags/a.py", "/dags/b.py"]
        conn.exec_driver_sql("DELETE FROM import_error WHERE filename = '/dags/b.py'")
        conn.exec_driver_sql("INSERT INTO import_error (filename, stacktrace, timestamp) "
                             "VALUES ('/dags/c.py', 'C', '2024-01-01 00:00:00+00')")
        new_id = conn.exec_driver_sql("SELECT id FROM import_error WHERE filename = '/dags/c.py'").scalar()
    assert new_id > max(i for i, _ in before)
    migrate.downgrade(empty_engine, "0001")
    with empty_engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT filename FROM import_error ORDER BY id").scalars().all()
    assert kept == ["/dags/a.py", "/dags/c.py"]


def test_0003_gives_existing_users_a_session_epoch_and_keeps_their_roles_both_ways(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0002")
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO ab_user (username, active, created, failed_login_count) "
                             "VALUES ('ada', true, '2024-01-01 00:00:00+00', 0)")
        conn.exec_driver_sql("INSERT INTO ab_role (name) VALUES ('Admin')")
        conn.exec_driver_sql("INSERT INTO ab_user_role (user_id, role_id) SELECT u.id, r.id FROM ab_user u, ab_role r")
        conn.exec_driver_sql("INSERT INTO api_token (user_id, token_hash, created) "
                             "SELECT id, 'h', '2024-01-01 00:00:00+00' FROM ab_user")
    migrate.upgrade(empty_engine, "0003")
    with empty_engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT username, session_epoch FROM ab_user").all() == [("ada", 0)]
        conn.exec_driver_sql("UPDATE ab_user SET session_epoch = session_epoch + 1")
    migrate.downgrade(empty_engine, "0002")
    assert "session_epoch" not in {c["name"] for c in sa.inspect(empty_engine).get_columns("ab_user")}
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ab_user_role").scalar() == 1
        assert conn.exec_driver_sql("SELECT count(*) FROM api_token").scalar() == 1


def test_0005_adds_the_dataset_alias_tables_and_keeps_datasets_and_events_both_ways(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO dataset (uri, created_at, is_orphaned) "
                             "VALUES ('s3://x', '2024-01-01 00:00:00+00', false)")
        conn.exec_driver_sql("INSERT INTO dataset_event (dataset_id, timestamp) "
                             "SELECT id, '2024-01-01 00:00:00+00' FROM dataset")
    migrate.upgrade(empty_engine, "0005")
    alias_tables = {"dataset_alias", "dataset_alias_dataset", "dataset_alias_dataset_event", "dataset_alias_dag_ref"}
    assert alias_tables <= _tables(empty_engine)
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO dataset_alias (name) VALUES ('orders')")
        conn.exec_driver_sql("INSERT INTO dataset_alias_dataset (alias_id, dataset_id) "
                             "SELECT a.id, d.id FROM dataset_alias a, dataset d")
        conn.exec_driver_sql("INSERT INTO dataset_alias_dataset_event (alias_id, event_id) "
                             "SELECT a.id, e.id FROM dataset_alias a, dataset_event e")
    migrate.downgrade(empty_engine, "0004")
    assert not alias_tables & _tables(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM dataset_event").scalar() == 1


_OLD_XCOMS = {"float": "10.0", "big_int": "1180591620717411303424", "tenth": "0.1", "int": "7",
              "dict": '{"a": 1.0, "b": [2, "x"]}', "text": '"10.0"', "null": "null"}


def _add_xcoms_as_0005_stored_them(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO dag (dag_id, is_paused, is_active, has_import_errors) "
                             "VALUES ('etl', false, true, false)")
        conn.exec_driver_sql("INSERT INTO dag_run (dag_id, run_id, run_type, logical_date, external_trigger) "
                             "VALUES ('etl', 'r1', 'manual', '2024-01-01 00:00:00+00', false)")
        conn.exec_driver_sql("INSERT INTO task_instance (dag_id, run_id, task_id) VALUES ('etl', 'r1', 'extract')")
        for key, stored in _OLD_XCOMS.items():
            conn.execute(sa.text("INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value, timestamp) "
                                 "VALUES ('etl', 'r1', 'extract', -1, :key, :value, '2024-01-01 00:00:00+00')"),
                         {"key": key, "value": stored})


def _xcom_values(engine: sa.Engine) -> dict[str, object]:
    store = Store(engine)
    return {x.key: x.value for x in store.list_xcoms(RunKey("etl", "r1"))}


def test_0006_keeps_every_xcom_and_from_then_on_sqlite_keeps_a_bare_number_as_its_json_text(
        empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine, "0005")
    _add_xcoms_as_0005_stored_them(empty_engine)
    migrate.upgrade(empty_engine, "0006")
    assert migrate.check(empty_engine) == []
    kept = _xcom_values(empty_engine)
    # what SQLite's NUMERIC affinity already turned into a number stays the number it was read as
    numbers_before = {"float": 10, "big_int": 1.1805916207174113e+21} if empty_engine.dialect.name == "sqlite" else \
        {"float": 10.0, "big_int": 2**70}
    expected = {**numbers_before, "tenth": 0.1, "int": 7, "dict": {"a": 1.0, "b": [2, "x"]}, "text": "10.0",
                "null": None}
    assert {k: (v, type(v)) for k, v in kept.items()} == {k: (v, type(v)) for k, v in expected.items()}
    with empty_engine.begin() as conn:
        conn.execute(sa.text("UPDATE xcom SET value = :v WHERE key = 'float'"), {"v": "10.0"})
    assert type(_xcom_values(empty_engine)["float"]) is float
    migrate.downgrade(empty_engine, "0005")
    with empty_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM xcom").scalar() == len(_OLD_XCOMS)
