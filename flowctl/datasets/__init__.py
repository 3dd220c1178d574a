"""Airflow-compatible path ``flowctl.datasets``: re-exports only.

The real code lives in :mod:`flowctl.core.datasets`. ``DatasetAlias`` (Airflow
2.10) is not supported: importing it says so and names the flowctl way.
"""
from __future__ import annotations

from flowctl.core.airflow_names import DATASET_ALIAS_WAY, module_getattr
from flowctl.core.datasets import BaseDataset, Dataset, DatasetAll, DatasetAny

__all__ = ["BaseDataset", "Dataset", "DatasetAll", "DatasetAny"]

__getattr__ = module_getattr(__name__, {"DatasetAlias": DATASET_ALIAS_WAY})
