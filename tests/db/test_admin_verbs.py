"""The Store's admin verbs on SQLite and PostgreSQL: variables, connections, pools, users, tokens."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowctl.core.connection import Connection, ConnectionFormatError, parse_uri
from flowctl.core.errors import (AlreadyExistsError, ConnectionNotFound, FlowctlError, PoolNotFound,
                                 UserNotFound, VariableNotFound)
from flowctl.db.admin import Pool
from flowctl.db.secrets import FernetKeyError, generate_key
from flowctl.db.tables import DagRow, DagRunRow, TaskInstanceRow
from flowctl.db.users import NewUser, PasswordPolicyError
from tests.db.samples import make_run, ti_key

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"


@pytest.fixture()
def keyed(store: Any) -> Any:
    """The store with a fernet key configured, as after `flowctl db init`."""
    store.use_fernet_key(generate_key())
    return store


def _raw(store: Any, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


# --- variables --------------------------------------------------------------------------------

def test_a_variable_is_stored_encrypted_and_read_back_in_clear(keyed: Any) -> None:
    keyed.set_variable("api_endpoint", "https://s3cr3t.example.com", "where to call")
    assert keyed.get_variable("api_endpoint") == "https://s3cr3t.example.com"
    [(val, encrypted)] = _raw(keyed, "SELECT val, is_encrypted FROM variable")
    assert "s3cr3t" not in val and encrypted
    assert keyed.get_variable_record("api_endpoint").description == "where to call"


def test_without_a_fernet_key_variables_are_stored_in_clear(store: Any) -> None:
    store.set_variable("k", "v")
    assert _raw(store, "SELECT val, is_encrypted FROM variable") == [("v", False)]
    assert store.get_variable("k") == "v"


def test_without_a_fernet_key_a_sensitive_variable_is_refused_not_stored_in_clear(store: Any) -> None:
    """Secrets are encrypted at rest: as a connection's password, a variable whose key says it is a
    secret (password, token, api_key...) needs a key; the others are stored in clear, as in Airflow."""
    with store.engine.begin() as conn:  # in clear, as a version before this one stored it
        conn.execute(text("INSERT INTO variable (key, val, is_encrypted) VALUES ('db_password', 'old', false)"))
    for write in (lambda: store.set_variable("db_password", "s3cret"),
                  lambda: store.update_variable("db_password", {"value": "s3cret"}),
                  lambda: store.import_variables({"plain": "p", "api_token": "s3cret"})):
        with pytest.raises(FernetKeyError, match="'(db_password|api_token)' .*flowctl db init"):
            write()
    assert _raw(store, "SELECT key, val FROM variable") == [("db_password", "old")]  # the import: all or nothing
    store.update_variable("db_password", {"description": "still editable"})
    store.delete_variable("db_password")


def test_setting_a_variable_again_replaces_the_value_and_keeps_the_description(keyed: Any) -> None:
    keyed.set_variable("k", "one", "described")
    keyed.set_variable("k", "two")
    record = keyed.get_variable_record("k")
    assert (record.val, record.description) == ("two", "described")
    assert [v.key for v in keyed.list_variables()] == ["k"]


def test_a_missing_variable_is_a_not_found_error_that_is_also_a_key_error(keyed: Any) -> None:
    with pytest.raises(VariableNotFound, match="nope") as info:
        keyed.get_variable("nope")
    assert isinstance(info.value, KeyError)
    assert keyed.delete_variable("nope") is False


def test_deleting_a_variable_removes_it(keyed: Any) -> None:
    keyed.set_variable("k", "v")
    assert keyed.delete_variable("k") is True
    assert keyed.list_variables() == []


def test_variables_import_then_export_round_trip_with_json_values(keyed: Any) -> None:
    data = {"plain": "text", "number": 3, "nested": {"a": [1, 2]}, "flag": True}
    assert keyed.import_variables(data) == 4
    assert keyed.get_variable("nested") == '{"a": [1, 2]}'
    assert keyed.export_variables() == data


def test_an_empty_variable_key_is_refused(keyed: Any) -> None:
    with pytest.raises(FlowctlError, match="empty"):
        keyed.set_variable(" ", "v")


# --- connections ------------------------------------------------------------------------------

def test_a_connection_password_and_extra_are_not_stored_in_plaintext(keyed: Any) -> None:
    keyed.add_connection(parse_uri("warehouse", "postgres://etl:Hunter2Pw@db:5432/dw?sslkey=PrivKeyX"))
    [(password, extra, enc, extra_enc)] = _raw(
        keyed, "SELECT password, extra, is_encrypted, is_extra_encrypted FROM connection")
    assert "Hunter2Pw" not in password and "PrivKeyX" not in extra
    assert enc and extra_enc
    conn = keyed.get_connection("warehouse")
    assert (conn.password, conn.extra_dejson) == ("Hunter2Pw", {"sslkey": "PrivKeyX"})
    assert conn.get_uri() == "postgres://etl:Hunter2Pw@db:5432/dw?sslkey=PrivKeyX"


def test_a_connection_with_a_password_needs_a_fernet_key(store: Any) -> None:
    with pytest.raises(FernetKeyError, match="flowctl db init"):
        store.add_connection(Connection(conn_id="c", conn_type="http", password="pw"))
    store.add_connection(Connection(conn_id="open", conn_type="http", host="example.com"))
    assert store.get_connection("open").host == "example.com"


def test_adding_a_connection_twice_is_refused_but_upsert_replaces(keyed: Any) -> None:
    keyed.add_connection(Connection(conn_id="c", conn_type="http", host="a"))
    with pytest.raises(AlreadyExistsError, match="'c'"):
        keyed.add_connection(Connection(conn_id="c", conn_type="http", host="b"))
    keyed.upsert_connection(Connection(conn_id="c", conn_type="http", host="b", password="pw"))
    assert keyed.get_connection("c") == Connection(conn_id="c", conn_type="http", host="b", password="pw")


def test_a_missing_connection_names_its_conn_id(keyed: Any) -> None:
    with pytest.raises(ConnectionNotFound, match="nope"):
        keyed.get_connection("nope")
    assert keyed.delete_connection("nope") is False


def test_connections_are_listed_by_conn_id_and_deleted(keyed: Any) -> None:
    for cid in ("b", "a"):
        keyed.add_connection(Connection(conn_id=cid, conn_type="http"))
    assert [c.conn_id for c in keyed.list_connections()] == ["a", "b"]
    assert keyed.delete_connection("a") is True
    assert [c.conn_id for c in keyed.list_connections()] == ["b"]


def test_a_connection_field_longer_than_its_column_is_refused_naming_the_field_and_its_limit(keyed: Any) -> None:
    """Before: SQLite stored them, and PostgreSQL failed with a database error (so an export from
    SQLite did not import into PostgreSQL)."""
    with pytest.raises(ConnectionFormatError, match=r"connection 'c': host has 1000 characters; at most 500"):
        keyed.add_connection(Connection(conn_id="c", conn_type="http", host="h" * 1000))
    with pytest.raises(ConnectionFormatError, match=r"must be 1 to 250 letters"):
        keyed.add_connection(Connection(conn_id="c" * 300, conn_type="http"))
    for field in ("conn_type", "schema"):
        with pytest.raises(ConnectionFormatError, match=rf"{field} has 501 characters; at most 500"):
            keyed.upsert_connection(Connection(conn_id="c", **{"conn_type": "http", field: "x" * 501}))
    assert keyed.list_connections() == []
    keyed.add_connection(Connection(conn_id="c", conn_type="http", host="h" * 500, login="l" * 1000))
    with pytest.raises(ConnectionFormatError, match="host has 501 characters"):
        keyed.update_connection("c", {"host": "h" * 501})
    assert keyed.get_connection("c").host == "h" * 500


@pytest.mark.parametrize("conn_id", ["", " ", "a b", "a/b", "x\n", "é"])
def test_a_conn_id_other_than_letters_digits_underscores_dots_and_dashes_is_refused(keyed: Any,
                                                                                    conn_id: str) -> None:
    with pytest.raises(ConnectionFormatError, match="letters, digits"):
        keyed.add_connection(Connection(conn_id=conn_id, conn_type="http"))
    with pytest.raises(ConnectionFormatError, match="letters, digits"):
        keyed.upsert_connection(Connection(conn_id=conn_id, conn_type="http"))
    assert keyed.list_connections() == []


# --- fernet key rotation ----------------------------------------------------------------------

def test_rotation_re_encrypts_every_secret_so_the_old_key_can_be_dropped(store: Any) -> None:
    old, new = generate_key(), generate_key()
    store.use_fernet_key(old)
    store.set_variable("v", "value")
    store.add_connection(Connection(conn_id="c", conn_type="http", password="pw", extra='{"t": "x"}'))
    before = _raw(store, "SELECT password FROM connection")
    store.use_fernet_key(f"{new},{old}")
    assert store.rotate_fernet_key() == 3
    assert _raw(store, "SELECT password FROM connection") != before
    store.use_fernet_key(new)
    assert store.get_variable("v") == "value"
    assert store.get_connection("c").password == "pw"


def test_rotation_encrypts_values_written_before_a_key_existed(store: Any) -> None:
    store.set_variable("legacy", "clear")
    store.use_fernet_key(generate_key())
    assert store.rotate_fernet_key() == 1
    [(val, encrypted)] = _raw(store, "SELECT val, is_encrypted FROM variable")
    assert val != "clear" and encrypted
    assert store.get_variable("legacy") == "clear"


def _deferred(store: Any, kwargs: dict[str, Any]) -> int:
    """A try deferred on a trigger with these kwargs (what a deferring task writes); the trigger's id."""
    key = ti_key(make_run(store))
    assert store.set_task_state(key, "pending", "scheduled") and store.set_task_state(key, "scheduled", "queued")
    assert store.start_try(key, 0, "here", 1, NOW) is not None
    assert store.defer_try(key, 1, "flowctl.triggers.temporal.TimeDeltaTrigger", kwargs, "done", None, None, NOW)
    [(trigger_id,)] = _raw(store, "SELECT id FROM trigger")
    return int(trigger_id)


def test_trigger_kwargs_are_stored_encrypted_and_rotated_with_the_key(store: Any) -> None:
    old, new = generate_key(), generate_key()
    store.use_fernet_key(old)
    kwargs = {"api_token": "s3cr3t-tok-123", "moment": {"__type": "datetime", "value": "2024-05-01T12:00:00+00:00"}}
    trigger_id = _deferred(store, kwargs)
    assert "s3cr3t" not in str(_raw(store, "SELECT kwargs FROM trigger"))  # Airflow 2.9+ encrypts them at rest
    [trigger] = store.triggers([trigger_id])
    assert trigger.kwargs == kwargs
    assert store.triggers_with_jobs([trigger_id])[trigger_id][0].kwargs == kwargs
    store.use_fernet_key(f"{new},{old}")
    assert store.rotate_fernet_key() == 1
    store.use_fernet_key(new)
    assert store.triggers([trigger_id])[0].kwargs == kwargs


def test_trigger_kwargs_stored_before_a_key_existed_are_read_and_encrypted_by_rotation(store: Any) -> None:
    trigger_id = _deferred(store, {"delta": 5})
    assert store.triggers([trigger_id])[0].kwargs == {"delta": 5}
    store.use_fernet_key(generate_key())
    assert store.triggers([trigger_id])[0].kwargs == {"delta": 5}
    assert store.rotate_fernet_key() == 1 and "delta" not in str(_raw(store, "SELECT kwargs FROM trigger"))
    assert store.triggers([trigger_id])[0].kwargs == {"delta": 5}


def test_reading_secrets_after_the_key_changed_is_a_clear_error(store: Any) -> None:
    store.use_fernet_key(generate_key())
    store.set_variable("v", "value")
    store.use_fernet_key(generate_key())
    with pytest.raises(FernetKeyError, match="cannot be decrypted"):
        store.get_variable("v")


# --- pools ------------------------------------------------------------------------------------

def test_a_pool_is_created_updated_and_listed(store: Any) -> None:
    store.set_pool("default_pool", 128, "default")
    store.set_pool("etl", 4, "nightly loads")
    store.set_pool("etl", 8)
    assert store.get_pool("etl").slots == 8
    assert store.get_pool("etl").description == "nightly loads"
    assert [p.name for p in store.list_pools()] == ["default_pool", "etl"]


def test_importing_pools_writes_all_of_them_or_none(store: Any) -> None:
    store.set_pool("kept", 2, "described")
    assert store.import_pools({"kept": {"slots": 5}, "new": {"slots": -1, "description": "d",
                                                             "include_deferred": True}}) == 2
    assert store.get_pool("kept") == Pool("kept", 5, "described", False)
    assert store.get_pool("new").include_deferred is True
    for bad, says in (({"slots": "x"}, "slots must be a whole number"), ({"slots": -7}, "slots must be from 0"),
                      ({"slots": True}, "slots must be a whole number"), ([3], "expected an object"),
                      ({}, "slots must be a whole number"), ({"slots": 1, "description": 5}, "description"),
                      ({"slots": 1, "include_deferred": "no"}, "include_deferred")):
        with pytest.raises(FlowctlError, match=f"pool 'zz2'.*{says}"):
            store.import_pools({"zz1": {"slots": 3}, "zz2": bad})
    with pytest.raises(FlowctlError, match="empty"):
        store.import_pools({"zz1": {"slots": 3}, " ": {"slots": 1}})
    assert [p.name for p in store.list_pools()] == ["default_pool", "kept", "new"]


def test_pool_slots_must_be_at_least_minus_one(store: Any) -> None:
    store.set_pool("unlimited", -1)
    with pytest.raises(FlowctlError, match="-1 for unlimited"):
        store.set_pool("bad", -2)


def test_default_pool_cannot_be_deleted_but_others_can(store: Any) -> None:
    store.set_pool("default_pool", 128)
    store.set_pool("etl", 2)
    with pytest.raises(FlowctlError, match="cannot be deleted"):
        store.delete_pool("default_pool")
    assert store.delete_pool("etl") is True
    assert store.delete_pool("etl") is False
    with pytest.raises(PoolNotFound, match="etl"):
        store.get_pool("etl")


def _add_task_instances(store: Any, states: list[tuple[str, str, int]]) -> None:
    with Session(store.engine) as s, s.begin():
        s.add(DagRow(dag_id="d"))
        s.flush()
        s.add(DagRunRow(dag_id="d", run_id="r", run_type="manual", logical_date=NOW, state="running"))
        s.flush()
        for i, (pool, state, slots) in enumerate(states):
            s.add(TaskInstanceRow(dag_id="d", run_id="r", task_id=f"t{i}", map_index=-1, pool=pool,
                                  state=state, pool_slots=slots))


def test_pool_usage_counts_running_and_queued_slots_per_pool(store: Any) -> None:
    store.set_pool("default_pool", 128)
    store.set_pool("small", 3)
    store.set_pool("deferring", 5, include_deferred=True)
    store.set_pool("free", -1)
    _add_task_instances(store, [("small", "running", 1), ("small", "queued", 2), ("small", "success", 1),
                                ("deferring", "deferred", 2), ("free", "running", 7),
                                ("default_pool", "scheduled", 1)])
    usage = {u.pool: u for u in store.pool_usage()}
    assert (usage["small"].running, usage["small"].queued, usage["small"].open_slots) == (1, 2, 0)
    assert usage["deferring"].open_slots == 3
    assert usage["free"].open_slots is None
    assert usage["default_pool"].open_slots == 128


def test_renaming_a_pool_moves_its_unfinished_task_instances_and_leaves_finished_ones(store: Any) -> None:
    store.set_pool("small", 3, "the small one")
    _add_task_instances(store, [("small", "running", 1), ("small", "queued", 1), ("small", "scheduled", 1),
                                ("small", "up_for_retry", 1), ("small", "success", 1), ("small", "failed", 1),
                                ("default_pool", "running", 1)])
    renamed = store.update_pool("small", {"name": "tiny", "slots": 4})
    assert (renamed.name, renamed.slots, renamed.description) == ("tiny", 4, "the small one")
    assert [p.name for p in store.list_pools()] == ["default_pool", "tiny"]
    by_state = dict(_raw(store, "SELECT state, pool FROM task_instance WHERE pool <> 'default_pool'"))
    assert by_state == {"running": "tiny", "queued": "tiny", "scheduled": "tiny", "up_for_retry": "tiny",
                        "success": "small", "failed": "small"}
    usage = {u.pool: u for u in store.pool_usage()}
    assert (usage["tiny"].running, usage["tiny"].queued, usage["tiny"].open_slots) == (1, 1, 2)


def test_a_pool_cannot_take_a_taken_name_and_default_pool_keeps_its_own(store: Any) -> None:
    store.set_pool("a", 1)
    store.set_pool("b", 2)
    _add_task_instances(store, [("a", "running", 1)])
    with pytest.raises(AlreadyExistsError, match="'b' exists already"):
        store.update_pool("a", {"name": "b", "slots": 9})
    with pytest.raises(FlowctlError, match="default_pool cannot be renamed"):
        store.update_pool("default_pool", {"name": "c"})
    with pytest.raises(FlowctlError, match="must not be empty"):
        store.update_pool("a", {"name": " "})
    with pytest.raises(PoolNotFound, match="'nope'"):
        store.update_pool("nope", {"name": "c"})
    assert [(p.name, p.slots) for p in store.list_pools()] == [("a", 1), ("b", 2), ("default_pool", 128)]
    assert _raw(store, "SELECT pool FROM task_instance") == [("a",)]


# --- users, roles, tokens ---------------------------------------------------------------------

def test_a_user_password_is_stored_as_a_salted_hash_and_authenticates(store: Any) -> None:
    store.create_user(NewUser("ada", email="ada@example.com", role="Admin"), PASSWORD, NOW)
    store.create_user(NewUser("bob"), PASSWORD, NOW)
    hashes = [h for (h,) in _raw(store, "SELECT password_hash FROM ab_user")]
    assert all(PASSWORD not in h and h.startswith("scrypt$") for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salts
    user = store.authenticate("ada", PASSWORD, NOW)
    assert user is not None and user.roles == ("Admin",) and user.last_login == NOW


def test_a_wrong_password_or_unknown_user_does_not_authenticate(store: Any) -> None:
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    assert store.authenticate("ada", "wrong password", NOW) is None
    assert store.authenticate("nobody", PASSWORD, NOW) is None
    assert store.get_user("ada").failed_login_count == 1


def test_resetting_a_password_replaces_the_old_one(store: Any) -> None:
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    store.reset_password("ada", "another long password")
    assert store.authenticate("ada", PASSWORD, NOW) is None
    assert store.authenticate("ada", "another long password", NOW) is not None
    with pytest.raises(UserNotFound, match="zed"):
        store.reset_password("zed", "another long password")


def test_short_passwords_and_duplicate_usernames_are_refused(store: Any) -> None:
    with pytest.raises(PasswordPolicyError, match="at least 8"):
        store.create_user(NewUser("ada"), "short", NOW)
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    with pytest.raises(AlreadyExistsError, match="ada"):
        store.create_user(NewUser("ada"), PASSWORD, NOW)


@pytest.mark.parametrize(("new", "says"), [
    (NewUser(""), "the username must not be empty"),
    (NewUser("   "), "the username must not be empty"),
    (NewUser(" ada"), "spaces at its ends"),
    (NewUser("a\nb"), "line break"),
    (NewUser("a" * 513), "username has 513 characters; at most 512"),
    (NewUser("ada", email="notanemail"), "'notanemail' is not an e-mail address"),
    (NewUser("ada", email="a b@example.com"), "is not an e-mail address"),
    (NewUser("ada", email="x" * 520 + "@example.com"), "email has 532 characters; at most 512"),
    (NewUser("ada", first_name="f" * 257), "first_name has 257 characters; at most 256"),
])
def test_a_blank_or_odd_username_a_bad_email_or_an_over_long_field_is_refused(store: Any, new: NewUser,
                                                                              says: str) -> None:
    with pytest.raises(FlowctlError, match=says):
        store.check_new_user(new)
    with pytest.raises(FlowctlError, match=says):
        store.create_user(new, PASSWORD, NOW)
    assert store.list_users() == []


def test_an_email_address_in_use_is_refused_whatever_its_case(store: Any) -> None:
    store.create_user(NewUser("ada", email="Ada@Example.com"), PASSWORD, NOW)
    with pytest.raises(AlreadyExistsError, match="'ada@example.COM' is already used by user 'ada'"):
        store.create_user(NewUser("ada2", email="ada@example.COM"), PASSWORD, NOW)
    with pytest.raises(AlreadyExistsError, match="already used by user 'ada'"):
        store.check_new_user(NewUser("ada3", email=" ADA@example.com "))
    assert [u.username for u in store.list_users()] == ["ada"]


def test_users_without_an_email_address_never_clash_on_it(store: Any) -> None:
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    store.create_user(NewUser("bob", email=""), PASSWORD, NOW)
    store.create_user(NewUser("cy", email="cy@example.com"), PASSWORD, NOW)
    store.check_new_user(NewUser("dee", email=None))
    assert [u.username for u in store.list_users()] == ["ada", "bob", "cy"]


def test_checking_a_new_user_names_a_taken_username_or_an_unknown_role(store: Any) -> None:
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    with pytest.raises(AlreadyExistsError, match="'ada' exists already"):
        store.check_new_user(NewUser("ada", email="other@example.com"))
    with pytest.raises(FlowctlError, match="role 'God' does not exist"):
        store.check_new_user(NewUser("bob", role="God"))


def test_roles_are_created_on_demand_and_unknown_roles_are_refused(store: Any) -> None:
    store.create_user(NewUser("ada", role="viewer"), PASSWORD, NOW)
    assert store.add_role("ada", "Op").roles == ("Op", "Viewer")
    assert store.add_role("ada", "Op").roles == ("Op", "Viewer")
    with pytest.raises(FlowctlError, match="Admin, Op, User, Viewer"):
        store.add_role("ada", "Superuser")


def test_users_are_listed_and_deleted_with_their_roles_and_tokens(store: Any) -> None:
    store.create_user(NewUser("bob"), PASSWORD, NOW)
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    store.create_api_token("ada", NOW)
    assert [u.username for u in store.list_users()] == ["ada", "bob"]
    assert store.delete_user("ada") is True
    assert store.delete_user("ada") is False
    assert _raw(store, "SELECT count(*) FROM api_token") == [(0,)]
    assert _raw(store, "SELECT count(*) FROM ab_user_role") == [(1,)]


def test_an_api_token_is_stored_only_as_its_sha256_and_expires(store: Any) -> None:
    store.create_user(NewUser("ada"), PASSWORD, NOW)
    token = store.create_api_token("ada", NOW, lifetime=timedelta(hours=1))
    [(stored,)] = _raw(store, "SELECT token_hash FROM api_token")
    assert token not in stored and len(stored) == 64
    user = store.verify_api_token(token, NOW + timedelta(minutes=5))
    assert user is not None and user.username == "ada"
    assert store.verify_api_token(token, NOW + timedelta(hours=2)) is None
    assert store.verify_api_token("forged", NOW) is None
