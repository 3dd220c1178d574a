"""Airflow-compatible path ``flowctl.models.dag`` (``DagModel`` is not supported: importing it says
what to do instead)."""
from __future__ import annotations

from flowctl.core.airflow_names import DAG_MODEL_WAY, module_getattr
from flowctl.core.dag import DAG, DagContext

__all__ = ["DAG", "DagContext"]

__getattr__ = module_getattr(__name__, {"DagModel": DAG_MODEL_WAY})
