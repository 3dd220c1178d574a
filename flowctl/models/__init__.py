"""Airflow-compatible path ``flowctl.models``: DAG, BaseOperator, Param, DagBag, Variable...

Every name is imported on first use (module ``__getattr__``), so importing this
package pulls in nothing heavy; DagBag and Variable live in packages written
elsewhere (flowctl.dag_processing.dagbag, flowctl.models.variable).
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DAG": "flowctl.core.dag",
    "BaseOperator": "flowctl.core.baseoperator",
    "MappedOperator": "flowctl.core.mapping",
    "Param": "flowctl.core.params",
    "ParamsDict": "flowctl.core.params",
    "DagBag": "flowctl.dag_processing.dagbag",
    "Variable": "flowctl.models.variable",
    "Connection": "flowctl.models.connection",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowctl.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
