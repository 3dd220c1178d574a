"""Airflow-compatible paths ``flowctl.utils.*``: thin re-export modules only."""
