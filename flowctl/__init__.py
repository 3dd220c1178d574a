"""flowctl: an Apache-Airflow-compatible workflow scheduler.

``import flowctl`` stays cheap: ``flowctl.DAG``, ``flowctl.Dataset`` and ``flowctl.XComArg`` (Airflow:
``airflow.DAG``, ``airflow.Dataset``, ``airflow.XComArg``) are imported on first use through the module ``__getattr__``.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["DAG", "Dataset", "XComArg", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DAG":
        from flowctl.core.dag import DAG

        return DAG
    if name == "Dataset":
        from flowctl.core.datasets import Dataset

        return Dataset
    if name == "XComArg":
        from flowctl.core.xcom_arg import XComArg

        return XComArg
    raise AttributeError(f"module 'flowctl' has no attribute {name!r}")
