"""Airflow-compatible path ``flowctl.utils.trigger_rule``."""
from __future__ import annotations

from flowctl.core.trigger_rules import TriggerRule

__all__ = ["TriggerRule"]
