"""Airflow-compatible path ``flowctl.models.param``."""
from __future__ import annotations

from flowctl.core.params import Param, ParamsDict

__all__ = ["Param", "ParamsDict"]
