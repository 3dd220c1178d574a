"""Airflow-compatible path ``flowctl.datasets``: datasets are not supported (no data-aware scheduling).

Importing ``Dataset`` (or ``DatasetAlias``, ``DatasetAll``, ``DatasetAny``) raises
an error that says so and names the flowctl way.
"""
from __future__ import annotations

from flowctl.core.airflow_names import DATASETS_WAY, module_getattr

__all__: list[str] = []

__getattr__ = module_getattr(__name__, dict.fromkeys(("Dataset", "DatasetAlias", "DatasetAll", "DatasetAny"),
                                                     DATASETS_WAY))
