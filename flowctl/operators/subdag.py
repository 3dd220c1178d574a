"""Airflow path ``flowctl.operators.subdag``: SubDagOperator is not supported (importing it says
what to do instead: a TaskGroup)."""
from __future__ import annotations

from flowctl.core.airflow_names import SUBDAG_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"SubDagOperator": SUBDAG_WAY})
