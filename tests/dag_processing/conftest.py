"""Helpers shared by the dag_processing tests: settings on a temporary home, DAG file text."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.settings import Settings


def good_dag_text(dag_id: str, tasks: int = 3) -> str:
    """A small, valid DAG file: a chain of ``tasks`` EmptyOperators."""
    return (
        "from datetime import datetime\n"
        "from flowctl import DAG\n"
        "from flowctl.operators.empty import EmptyOperator\n"
        f"with DAG({dag_id!r}, schedule='@daily', start_date=datetime(2024, 1, 1), tags=['t']) as dag:\n"
        f"    ops = [EmptyOperator(task_id=f't{{i}}') for i in range({tasks})]\n"
        "    for a, b in zip(ops, ops[1:]):\n"
        "        a >> b\n"
    )


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings whose dags folder is ``tmp_path / 'dags'`` (created), 2 s import timeout."""
    home = tmp_path / "home"
    dags = tmp_path / "dags"
    dags.mkdir()
    return Settings.load(environ={"FLOWCTL_HOME": str(home), "FLOWCTL__CORE__DAGS_FOLDER": str(dags),
                                  "FLOWCTL__CORE__DAGBAG_IMPORT_TIMEOUT": "2"})
