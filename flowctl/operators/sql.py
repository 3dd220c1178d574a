"""Airflow path ``flowctl.operators.sql``: the SQL operators are not supported (importing one says
what to do instead: query the connection from a @task)."""
from __future__ import annotations

from flowctl.core.airflow_names import SQL_BRANCH_WAY, SQL_WAY, module_getattr

_NAMES = ("SQLExecuteQueryOperator", "SQLCheckOperator", "SQLValueCheckOperator", "SQLIntervalCheckOperator",
          "SQLThresholdCheckOperator", "SQLColumnCheckOperator", "SQLTableCheckOperator", "BaseSQLOperator")

__getattr__ = module_getattr(__name__, {**dict.fromkeys(_NAMES, SQL_WAY), "BranchSQLOperator": SQL_BRANCH_WAY})
