"""Airflow-compatible path ``flowctl.models.xcom_arg``."""
from __future__ import annotations

from flowctl.core.xcom_arg import XComArg

__all__ = ["XComArg"]
