"""Airflow-compatible path ``flowctl.models.baseoperator``."""
from __future__ import annotations

from flowctl.core.airflow_names import EXTRA_LINKS_WAY, module_getattr
from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dependencies import chain, chain_linear, cross_downstream

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream"]

__getattr__ = module_getattr(__name__, {"BaseOperatorLink": EXTRA_LINKS_WAY})
