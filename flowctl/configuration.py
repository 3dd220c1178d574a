"""Airflow-compatible path ``flowctl.configuration``: ``conf``, flowctl's settings as DAG code reads them.

``from flowctl.configuration import conf`` and ``{{ conf.get('core', 'dags_folder') }}`` in
templates (the context's ``conf`` is this object; the run's conf is ``{{ dag_run.conf }}``)
give :class:`FlowctlConfig`: Airflow's ``get(section, key, fallback=...)``, ``getboolean``,
``getint``, ``getfloat``, ``has_option``. ``get`` returns text, as Airflow's does.

Secrets are never handed out: the options flowctl declares secret (``sql_alchemy_conn``,
``fernet_key``, ``secret_key``, broker URLs) and any key that names one (``password``,
``token``...) raise :class:`~flowctl.core.errors.ConfigError`, whatever the fallback, so they
cannot end up in a rendered template or a task's log.

``conf`` loads the settings (``Settings.load()``: the config file and ``FLOWCTL__…`` variables
of this process) on first use, never at import. Must not import web, cli, db or scheduler.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowctl.core.errors import ConfigError
from flowctl.core.masking import should_mask
from flowctl.settings import OPTIONS_BY_NAME, Settings

_UNSET: Any = object()
_TRUE = frozenset({"t", "true", "1", "yes", "on"})
_FALSE = frozenset({"f", "false", "0", "no", "off"})


def is_secret_option(section: str, key: str) -> bool:
    """True for an option whose value flowctl never gives to DAG code or templates."""
    option = OPTIONS_BY_NAME.get((section.lower(), key.lower()))
    return (option is not None and option.secret) or should_mask(key)


class FlowctlConfig:
    """flowctl's settings with Airflow's ``conf`` methods; secrets refused (see the module docstring)."""

    def __init__(self, load: Callable[[], Settings]) -> None:
        self._load = load
        self._settings: Settings | None = None

    @classmethod
    def over(cls, settings: Settings) -> FlowctlConfig:
        """A view of ``settings`` (already loaded)."""
        view = cls(lambda: settings)
        view._settings = settings
        return view

    @property
    def settings(self) -> Settings:
        """The settings viewed, loaded on first use."""
        if self._settings is None:
            self._settings = self._load()
        return self._settings

    def has_option(self, section: str, key: str) -> bool:
        """Whether ``[section] key`` is a flowctl option."""
        return (section.lower(), key.lower()) in OPTIONS_BY_NAME

    def get(self, section: str, key: str, fallback: Any = _UNSET, **_: Any) -> Any:
        """The option's value as text; ``fallback`` for an option flowctl does not have (else ConfigError)."""
        value = self._value(section, key, fallback)
        return value if value is fallback else _as_text(value)

    def getboolean(self, section: str, key: str, fallback: Any = _UNSET, **_: Any) -> Any:
        """The option's value as a bool (true/false, t/f, 1/0, yes/no, on/off)."""
        value = self._value(section, key, fallback)
        if value is fallback or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"[{section}] {key} is {value!r}, not a boolean")

    def getint(self, section: str, key: str, fallback: Any = _UNSET, **_: Any) -> Any:
        """The option's value as an int."""
        return self._converted(section, key, fallback, int, "an integer")

    def getfloat(self, section: str, key: str, fallback: Any = _UNSET, **_: Any) -> Any:
        """The option's value as a float."""
        return self._converted(section, key, fallback, float, "a number")

    def _converted(self, section: str, key: str, fallback: Any, kind: Callable[[Any], Any], what: str) -> Any:
        value = self._value(section, key, fallback)
        if value is fallback:
            return value
        try:
            return kind(value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value))
        except ValueError:
            raise ConfigError(f"[{section}] {key} is {value!r}, not {what}") from None

    def _value(self, section: str, key: str, fallback: Any) -> Any:
        if is_secret_option(section, key):
            raise ConfigError(f"[{section}] {key} is a secret: flowctl does not give it to DAG code or "
                              "templates; keep credentials in a connection and read it with "
                              "BaseHook.get_connection (passwords are masked in logs)")
        if not self.has_option(section, key):
            if fallback is not _UNSET:
                return fallback
            raise ConfigError(f"[{section}] {key} is not a flowctl option (see `flowctl config list`)")
        return self.settings.get(section, key)

    def __repr__(self) -> str:
        return "<flowctl configuration>"


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


#: The settings of this process, loaded on first use (Airflow's ``airflow.configuration.conf``).
conf = FlowctlConfig(Settings.load)

__all__ = ["FlowctlConfig", "conf", "is_secret_option"]
