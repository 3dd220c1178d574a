"""Airflow-compatible path ``flowctl.models``: DAG, BaseOperator, Param, DagBag, Variable...

Every name is imported on first use (module ``__getattr__``), so importing this
package pulls in nothing heavy; DagBag and Variable live in packages written
elsewhere (flowctl.dag_processing.dagbag, flowctl.models.variable).
``TaskInstance`` is the class of ``context["ti"]`` and ``DagRun`` the class of
``context["dag_run"]`` (for type hints and isinstance checks; neither queries
the database). ``XCom``, ``Pool`` and ``DagModel`` are not supported (no database access from DAG code): importing
one says what to do instead.
"""
from __future__ import annotations

import importlib
from typing import Any

from flowctl.core.airflow_names import DAG_MODEL_WAY, POOL_WAY, XCOM_WAY, module_getattr

#: name -> (module, attribute there)
_LAZY = {
    "DAG": ("flowctl.core.dag", "DAG"),
    "BaseOperator": ("flowctl.core.baseoperator", "BaseOperator"),
    "MappedOperator": ("flowctl.core.mapping", "MappedOperator"),
    "Param": ("flowctl.core.params", "Param"),
    "ParamsDict": ("flowctl.core.params", "ParamsDict"),
    "DagBag": ("flowctl.dag_processing.dagbag", "DagBag"),
    "Variable": ("flowctl.models.variable", "Variable"),
    "Connection": ("flowctl.models.connection", "Connection"),
    "TaskInstance": ("flowctl.task_runner.taskinstance", "RuntimeTaskInstance"),
    "DagRun": ("flowctl.core.context", "RunInfo"),
}

__all__ = sorted(_LAZY)


def _lazy(name: str) -> Any:
    found = _LAZY.get(name)
    return None if found is None else getattr(importlib.import_module(found[0]), found[1])


__getattr__ = module_getattr("flowctl.models", {"XCom": XCOM_WAY, "Pool": POOL_WAY, "DagModel": DAG_MODEL_WAY}, _lazy)
