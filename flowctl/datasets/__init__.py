"""Airflow-compatible path ``flowctl.datasets``: re-exports only.

The real code lives in :mod:`flowctl.core.datasets`.
"""
from __future__ import annotations

from flowctl.core.datasets import BaseDataset, Dataset, DatasetAlias, DatasetAll, DatasetAny

__all__ = ["BaseDataset", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny"]
