"""`flowctl users create` refuses what Airflow's refuses: a taken username or e-mail address, in one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli

Out = pytest.CaptureFixture[str]
PASSWORD = "long enough pw"


@pytest.fixture()
def home(keyed_home: Path) -> Path:
    return keyed_home


def _usernames(capsys: Out) -> list[str]:
    code, out, err = run_cli(capsys, "users", "list", "--output", "json")
    assert code == 0, err
    return [row["username"] for row in json.loads(out)]


def test_a_second_user_with_an_email_address_in_use_is_refused_in_one_line(home: Path, capsys: Out) -> None:
    assert run_cli(capsys, "users", "create", "-u", "ada", "-e", "Ada@Example.com", "-p", PASSWORD)[0] == 0
    code, out, err = run_cli(capsys, "users", "create", "-u", "ada2", "-e", "ada@example.COM", "-p", PASSWORD)
    assert (code, out) == (1, "")
    assert err == "flowctl: error: the e-mail address 'ada@example.COM' is already used by user 'ada'\n"
    assert _usernames(capsys) == ["ada"]


def test_a_taken_email_address_fails_before_the_password_prompt(home: Path, capsys: Out,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(capsys, "users", "create", "-u", "ada", "-e", "ada@example.com", "-p", PASSWORD)[0] == 0

    def no_prompt(*args: object, **kwargs: object) -> str:
        raise AssertionError("prompted for a password that could never be used")

    monkeypatch.setattr("click.prompt", no_prompt)
    code, _, err = run_cli(capsys, "users", "create", "-u", "bob", "-e", "ADA@example.com")
    assert code == 1 and "already used by user 'ada'" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "users", "create", "-u", "ada", "-e", "new@example.com")
    assert code == 1 and err == "flowctl: error: user 'ada' exists already\n"


def test_users_without_an_email_address_or_with_different_ones_are_created(home: Path, capsys: Out) -> None:
    for args in (("-u", "ada"), ("-u", "bob"), ("-u", "cy", "-e", "cy@example.com"),
                 ("-u", "dee", "-e", "dee@example.com")):
        code, _, err = run_cli(capsys, "users", "create", *args, "-p", PASSWORD)
        assert code == 0, err
    assert _usernames(capsys) == ["ada", "bob", "cy", "dee"]


def test_a_username_that_differs_only_in_case_is_refused_in_one_line_before_the_password_prompt(
        home: Path, capsys: Out, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(capsys, "users", "create", "-u", "admin", "-p", PASSWORD)[0] == 0
    code, out, err = run_cli(capsys, "users", "create", "-u", "Admin", "-p", PASSWORD)
    assert (code, out) == (1, "")
    assert err == "flowctl: error: the username 'Admin' is already used by user 'admin'\n"

    def no_prompt(*args: object, **kwargs: object) -> str:
        raise AssertionError("prompted for a password that could never be used")

    monkeypatch.setattr("click.prompt", no_prompt)
    code, _, err = run_cli(capsys, "users", "create", "-u", "ADMIN", "-e", "new@example.com")
    assert code == 1 and err == "flowctl: error: the username 'ADMIN' is already used by user 'admin'\n"
    assert _usernames(capsys) == ["admin"]


def test_a_token_lifetime_past_the_calendar_is_one_line_and_exit_2(home: Path, capsys: Out) -> None:
    """Before: an OverflowError traceback (now + 99999999 days is past the year 9999)."""
    assert run_cli(capsys, "users", "create", "-u", "alice", "-e", "alice@example.com", "-p", PASSWORD)[0] == 0
    code, out, err = run_cli(capsys, "users", "create-token", "-u", "alice", "--expires-in-days", "99999999")
    assert (code, out) == (2, "")
    assert err == "flowctl: error: Invalid value for '--expires-in-days': 99999999 is not in the range 1<=x<=36500.\n"
