"""Operators users build DAGs from (Airflow-compatible paths ``flowctl.operators.*``).

May import flowctl.core and client libraries; must not import flowctl.db, web,
cli or scheduler.
"""
