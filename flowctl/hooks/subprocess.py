"""Airflow path ``flowctl.hooks.subprocess``: SubprocessHook is not supported (importing it says
what to do instead: BashOperator, or Python's subprocess module in your own operator)."""
from __future__ import annotations

from flowctl.core.airflow_names import module_getattr

_WAY = ("run commands with BashOperator (or @task.bash), or with Python's subprocess module "
        "(subprocess.run(..., capture_output=True)) in your own operator's execute()")

__getattr__ = module_getattr(__name__, {"SubprocessHook": _WAY, "SubprocessResult": _WAY})
