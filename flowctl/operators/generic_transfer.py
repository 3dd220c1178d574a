"""Airflow path ``flowctl.operators.generic_transfer``: GenericTransfer is not supported (importing
it says what to do instead: copy the rows in a @task with the databases' own clients)."""
from __future__ import annotations

from flowctl.core.airflow_names import SQL_WAY, module_getattr

__getattr__ = module_getattr(__name__, {"GenericTransfer": "copy the rows in a @task; " + SQL_WAY})
