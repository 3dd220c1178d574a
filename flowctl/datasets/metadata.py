"""Airflow-compatible path ``flowctl.datasets.metadata``: re-exports only.

The real code lives in :mod:`flowctl.core.outlet_events`.
"""
from __future__ import annotations

from flowctl.core.outlet_events import Metadata

__all__ = ["Metadata"]
