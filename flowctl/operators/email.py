"""Airflow path ``flowctl.operators.email``: EmailOperator is not supported (importing it says
what to do instead)."""
from __future__ import annotations

from flowctl.core.airflow_names import EMAIL_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"EmailOperator": EMAIL_WAY})
