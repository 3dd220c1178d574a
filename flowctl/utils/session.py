"""Airflow path ``flowctl.utils.session``: database sessions are not supported in DAG code (importing
``provide_session`` or ``create_session`` says what to do instead)."""
from __future__ import annotations

from flowctl.core.airflow_names import XCOM_WAY, module_getattr

_WAY = ("there is no database access from DAG code; use the CLI or the REST API, and in a task the context "
        "(context['ti'], context['dag_run'], Variable, BaseHook.get_connection); for XComs: " + XCOM_WAY.split("; ", 1)[1])

__getattr__ = module_getattr(__name__, {"provide_session": _WAY, "create_session": _WAY, "NEW_SESSION": _WAY})
