"""Airflow-compatible path ``flowctl.utils.types``: ``DagRunType`` (core/run_types.py).

Airflow's ``NOTSET`` / ``ArgNotSet`` sentinel and 2.10's ``DagRunTriggeredByType`` are not supported:
importing one says so and names the flowctl way.
"""
from __future__ import annotations

from flowctl.core.airflow_names import ARG_NOT_SET_WAY, TRIGGERED_BY_WAY, module_getattr
from flowctl.core.run_types import DagRunType

__all__ = ["DagRunType"]

__getattr__ = module_getattr(__name__, {"NOTSET": ARG_NOT_SET_WAY, "ArgNotSet": ARG_NOT_SET_WAY,
                                        "DagRunTriggeredByType": TRIGGERED_BY_WAY})
