"""Airflow-compatible path ``flowctl.models.xcom``: ``XCOM_RETURN_KEY``; ``XCom`` is not supported."""
from __future__ import annotations

from flowctl.core.airflow_names import XCOM_WAY, module_getattr
from flowctl.core.xcom_arg import XCOM_RETURN_KEY

__all__ = ["XCOM_RETURN_KEY"]

__getattr__ = module_getattr(__name__, {"XCom": XCOM_WAY, "BaseXCom": XCOM_WAY})
