"""Airflow-compatible paths ``flowctl.utils.log.*``: thin re-export modules only."""
