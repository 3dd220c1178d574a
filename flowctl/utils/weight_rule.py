"""Airflow-compatible path ``flowctl.utils.weight_rule``."""
from __future__ import annotations

from flowctl.core.weight_rule import WeightRule

__all__ = ["WeightRule"]
