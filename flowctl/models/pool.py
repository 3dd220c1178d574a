"""Airflow path ``flowctl.models.pool``: the Pool model is not supported (importing it says what
to do instead)."""
from __future__ import annotations

from flowctl.core.airflow_names import POOL_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"Pool": POOL_WAY})
