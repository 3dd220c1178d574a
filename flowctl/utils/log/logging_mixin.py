"""Airflow-compatible path ``flowctl.utils.log.logging_mixin``: ``LoggingMixin`` (core/loggers.py).

Airflow's stream redirection helpers and remote-log mixin are not supported: importing one says so
and names the flowctl way.
"""
from __future__ import annotations

from flowctl.core.airflow_names import EXTERNAL_LOGS_WAY, LOG_STREAMS_WAY, module_getattr
from flowctl.core.loggers import LoggingMixin

__all__ = ["LoggingMixin"]

__getattr__ = module_getattr(__name__, {"StreamLogWriter": LOG_STREAMS_WAY, "RedirectStdHandler": LOG_STREAMS_WAY,
                                        "ExternalLoggingMixin": EXTERNAL_LOGS_WAY})
