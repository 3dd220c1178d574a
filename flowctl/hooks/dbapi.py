"""Airflow path ``flowctl.hooks.dbapi``: DbApiHook is not supported (importing it says what to do
instead: the connection's fields with the database's own client)."""
from __future__ import annotations

from flowctl.core.airflow_names import SQL_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"DbApiHook": SQL_WAY, "ConnectorProtocol": SQL_WAY})
