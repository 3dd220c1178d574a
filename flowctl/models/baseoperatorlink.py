"""Airflow path ``flowctl.models.baseoperatorlink``: operator extra links are not supported
(importing BaseOperatorLink says what to do instead)."""
from __future__ import annotations

from flowctl.core.airflow_names import EXTRA_LINKS_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"BaseOperatorLink": EXTRA_LINKS_WAY})
