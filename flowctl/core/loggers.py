"""``LoggingMixin``: Airflow 2's ``self.log`` for any class, a logger named ``<module>.<ClassName>``.

What a class's instances log during a try goes to the try's log (its capture listens at the
root logger). Pure: must not import anything outside the standard library.
"""
from __future__ import annotations

import logging
from typing import Any


def logger_name(owner: type) -> str:
    """Airflow's logger name for ``owner``: ``<module>.<ClassName>``, or its ``_logger_name`` (under
    its ``_log_config_logger_name`` when it has one)."""
    own = getattr(owner, "_logger_name", None)
    if own is None:
        return f"{owner.__module__}.{owner.__name__}"
    prefix = getattr(owner, "_log_config_logger_name", None)
    return f"{prefix}.{own}" if prefix else own


class _ClassLog:
    """``obj.log``: the logger of ``obj``'s class, looked up on each read (never stored, so copies and
    pickles never carry one); an instance that assigns ``self.log`` keeps its own."""

    def __get__(self, instance: Any, owner: type) -> logging.Logger:
        return logging.getLogger(logger_name(owner))


class LoggingMixin:
    """Gives a class ``self.log`` and ``cls.logger()`` (Airflow's ``LoggingMixin``)."""

    _logger_name: str | None = None
    _log_config_logger_name: str | None = None
    log = _ClassLog()

    def __init__(self, context: Any = None) -> None:
        """``context`` is accepted for Airflow's signature; there is no log handler context to set."""

    @classmethod
    def logger(cls) -> logging.Logger:
        """The class's logger."""
        return logging.getLogger(logger_name(cls))
