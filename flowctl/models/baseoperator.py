"""Airflow-compatible path ``flowctl.models.baseoperator``."""
from __future__ import annotations

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dependencies import chain, chain_linear, cross_downstream

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream"]
