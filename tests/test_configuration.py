"""flowctl.configuration.conf: Airflow's ``conf`` over flowctl's settings, secrets refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.configuration import FlowctlConfig, conf
from flowctl.core.errors import ConfigError
from flowctl.settings import Settings


@pytest.fixture
def config(tmp_path: Path) -> FlowctlConfig:
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__CORE__PARALLELISM": "7",
                                      "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:hunter22@db/f"})
    return FlowctlConfig.over(settings)


def test_get_gives_the_options_value_as_text_as_airflows_conf_does(config: FlowctlConfig, tmp_path: Path) -> None:
    assert config.get("core", "dags_folder") == f"{tmp_path}/dags"
    assert config.get("CORE", "Parallelism") == "7"
    assert config.get("core", "load_examples") == "False"
    assert config.getint("core", "parallelism") == 7
    assert config.getfloat("scheduler", "heartbeat_sec") == 5.0
    assert config.getboolean("core", "load_examples") is False
    assert config.has_option("core", "executor") and not config.has_option("core", "nothing")


def test_an_option_flowctl_lacks_gives_the_fallback_or_says_so(config: FlowctlConfig) -> None:
    assert config.get("email", "email_backend", fallback="smtp") == "smtp"
    assert config.getint("core", "nothing", fallback=None) is None
    with pytest.raises(ConfigError, match=r"\[email\] email_backend is not a flowctl option"):
        config.get("email", "email_backend")


@pytest.mark.parametrize(("section", "key"), [("database", "sql_alchemy_conn"), ("core", "fernet_key"),
                                              ("webserver", "secret_key"), ("smtp", "smtp_password")])
def test_secrets_are_refused_whatever_the_fallback(config: FlowctlConfig, section: str, key: str) -> None:
    with pytest.raises(ConfigError, match="is a secret"):
        config.get(section, key, fallback="x")


def test_the_module_conf_loads_the_settings_of_this_process_on_first_use(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.setattr(conf, "_settings", None)
    assert conf.get("core", "dags_folder") == f"{tmp_path}/dags"
    assert repr(conf) == "<flowctl configuration>"
