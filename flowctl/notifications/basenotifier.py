"""Airflow path ``flowctl.notifications.basenotifier``: BaseNotifier is not supported (importing it
says what to do instead: a callback function)."""
from __future__ import annotations

from flowctl.core.airflow_names import module_getattr

_WAY = ("pass a function as on_failure_callback / on_success_callback / on_retry_callback (or "
        "sla_miss_callback): it is called with the context and can send the notification itself "
        "(send_email from flowctl.utils.email for mail)")

__getattr__ = module_getattr(__name__, {"BaseNotifier": _WAY})
