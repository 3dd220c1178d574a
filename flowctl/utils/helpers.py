"""Airflow-compatible path ``flowctl.utils.helpers`` (chain, chain_linear, cross_downstream)."""
from __future__ import annotations

from flowctl.core.dependencies import chain, chain_linear, cross_downstream

__all__ = ["chain", "chain_linear", "cross_downstream"]
