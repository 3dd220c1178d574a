"""Airflow 1 path ``flowctl.hooks.base_hook`` (deprecated in Airflow 2): use ``flowctl.hooks.base``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.hooks.base import BaseHook

warn_deprecated_module("flowctl.hooks.base_hook", "flowctl.hooks.base")

__all__ = ["BaseHook"]
