"""Settings: defaults, config file, FLOWCTL__SECTION__KEY overrides, and clear errors."""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.errors import ConfigError
from flowctl.settings import OPTIONS, Settings, mask

REPO = Path(__file__).resolve().parents[1]


def test_defaults_live_under_flowctl_home(tmp_path: Path) -> None:
    s = Settings.load({"FLOWCTL_HOME": str(tmp_path)})
    assert s.dags_folder == tmp_path / "dags"
    assert s.sql_alchemy_conn == f"sqlite:///{tmp_path}/flowctl.db"
    assert s.get("core", "executor") == "local"
    assert s.get("core", "parallelism") == 32
    assert s.get("core", "dagbag_import_timeout") == 30.0


def test_the_config_file_overrides_defaults_and_the_environment_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.cfg").write_text("[core]\nparallelism = 4\nexecutor = sequential\n")
    s = Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__CORE__PARALLELISM": "8"})
    assert s.get("core", "parallelism") == 8
    assert s.get("core", "executor") == "sequential"
    assert s.sources[("core", "parallelism")] == "env FLOWCTL__CORE__PARALLELISM"


def test_a_bad_value_is_an_error_naming_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[core\] parallelism"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__CORE__PARALLELISM": "lots"})
    with pytest.raises(ConfigError, match=r"\[core\] executor: expected one of sequential, local, celery"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__CORE__EXECUTOR": "kubernetes"})
    with pytest.raises(ConfigError, match=r"\[webserver\] port: expected a port number from 1 to 65535"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__WEBSERVER__PORT": "99999"})


def test_an_unknown_option_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config.cfg").write_text("[core]\nparalelism = 4\n")
    with pytest.raises(ConfigError, match="paralelism"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="FLOWCTL__CORE__NOPE"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path / "x"), "FLOWCTL__CORE__NOPE": "1"})


def test_secrets_are_masked_for_display() -> None:
    conn = next(o for o in OPTIONS if o.key == "sql_alchemy_conn")
    assert mask(conn, "postgresql://bob:hunter2@db:5432/x") == "postgresql://bob:***@db:5432/x"
    key = next(o for o in OPTIONS if o.key == "fernet_key")
    assert mask(key, "abc") == "***"


def test_config_example_documents_every_option() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "config.cfg.example")
    documented = {(s, k) for s in parser.sections() for k in parser[s]}
    declared = {(o.section, o.key) for o in OPTIONS}
    assert declared == documented


def test_the_web_url_follows_host_and_port_unless_base_url_is_set(tmp_path: Path) -> None:
    env = {"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__WEBSERVER__PORT": "8093"}
    assert Settings.load(env).web_url == "http://127.0.0.1:8093"
    env["FLOWCTL__WEBSERVER__BASE_URL"] = "https://flow.example.com/"
    assert Settings.load(env).web_url == "https://flow.example.com"


def test_a_config_file_named_explicitly_must_exist(tmp_path: Path) -> None:
    """Before: a typo in --config / FLOWCTL_CONFIG was ignored: defaults ran, without the fernet key
    the named file held, and secrets were stored unencrypted."""
    missing = tmp_path / "nope.cfg"
    with pytest.raises(ConfigError, match=rf"config file {missing} \(FLOWCTL_CONFIG\) does not exist"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL_CONFIG": str(missing)})
    with pytest.raises(ConfigError, match=rf"config file {missing} does not exist"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)}, path=missing)
    Settings.load({"FLOWCTL_HOME": str(tmp_path)})  # the default file may be absent: defaults


@pytest.mark.parametrize(("name", "value"), [("FLOWCTL__CORE__DEFAULT_TIMEZONE", "Mars/Base"),
                                             ("FLOWCTL__SCHEDULER__HEARTBEAT_SEC", "nan"),
                                             ("FLOWCTL__SCHEDULER__HEARTBEAT_SEC", "inf")])
def test_a_time_zone_that_does_not_exist_or_a_nan_number_is_refused_at_load(tmp_path: Path, name: str,
                                                                           value: str) -> None:
    """Before: accepted, then a ZoneInfoNotFoundError traceback at the first naive CLI date."""
    with pytest.raises(ConfigError, match=value):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), name: value})


def test_a_config_path_that_is_a_folder_is_an_error_not_silently_defaults(tmp_path: Path) -> None:
    """Before: ConfigParser.read skipped what it could not open, and the defaults ran (no fernet key)."""
    with pytest.raises(ConfigError, match=rf"^config file {tmp_path} cannot be read: Is a directory$"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)}, path=tmp_path)
    with pytest.raises(ConfigError, match=rf"^config file {tmp_path} \(FLOWCTL_CONFIG\) cannot be read"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path), "FLOWCTL_CONFIG": str(tmp_path)})


def test_a_default_config_path_that_is_a_folder_is_an_error_too(tmp_path: Path) -> None:
    (tmp_path / "config.cfg").mkdir()
    with pytest.raises(ConfigError, match=r"config\.cfg cannot be read: Is a directory"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)})


def test_a_config_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.cfg"
    path.write_bytes(b"[core]\nexecutor = \xff\n")
    with pytest.raises(ConfigError, match=rf"^config file {path} is not UTF-8 text \(byte 0xff at offset 18\)$"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)})


def test_a_config_file_nobody_may_read_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.cfg"
    path.write_text("[core]\nexecutor = local\n")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("builtins.open", refuse)  # root reads a mode-000 file: refuse it this way
    with pytest.raises(ConfigError, match=rf"^config file {path} cannot be read: Permission denied$"):
        Settings.load({"FLOWCTL_HOME": str(tmp_path)}, path=path)


def _option(key: str) -> Any:
    return next(o for o in OPTIONS if o.key == key)


@pytest.mark.parametrize(("value", "shown"), [
    ("redis://h:6379/0?password=QPW1", "redis://h:6379/0?password=***"),
    ("postgresql://u@h/db?password=QPW3&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://u:pw@h/db?sslkey=/k.pem&application_name=x&auth_token=T0K",
     "postgresql://u:***@h/db?sslkey=***&application_name=x&auth_token=***"),
    ("sentinel://:A@h1:26379;sentinel://:B@h2:26379", "sentinel://:***@h1:26379;sentinel://:***@h2:26379"),
    ("sentinel://h1:26379;sentinel://h2:26379", "sentinel://h1:26379;sentinel://h2:26379"),
    ("amqp://guest:p@ss@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
    ("postgresql://u:a;b@h/db", "postgresql://u:***@h/db"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("plain-secret-text", "***"),
])
def test_masking_hides_passwords_in_userinfo_and_query_of_every_url_of_a_list(value: str, shown: str) -> None:
    """Before: only user:pw@ was masked; a ?password= stayed in clear and a ;-list lost all but its last URL."""
    assert mask(_option("broker_url"), value) == shown
