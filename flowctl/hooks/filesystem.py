"""Airflow path ``flowctl.hooks.filesystem``: FSHook is not supported (importing it says what to
do instead: read the connection's ``path`` extra, as FileSensor does)."""
from __future__ import annotations

from flowctl.core.airflow_names import module_getattr

_WAY = ("wait for files with FileSensor (flowctl.sensors.filesystem), or read the base path with "
        "BaseHook.get_connection(fs_conn_id).extra_dejson.get('path', '') (flowctl.hooks.base)")

__getattr__ = module_getattr(__name__, {"FSHook": _WAY})
