"""flowctl: an Apache-Airflow-compatible workflow scheduler.

``import flowctl`` stays cheap: ``flowctl.DAG`` (Airflow: ``airflow.DAG``) is
imported on first use through the module ``__getattr__``.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["DAG", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DAG":
        from flowctl.core.dag import DAG

        return DAG
    raise AttributeError(f"module 'flowctl' has no attribute {name!r}")
