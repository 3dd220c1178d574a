"""Airflow-compatible path ``flowctl.operators.dummy``: DummyOperator is EmptyOperator."""
from __future__ import annotations

from flowctl.operators.empty import EmptyOperator

DummyOperator = EmptyOperator

__all__ = ["DummyOperator", "EmptyOperator"]
