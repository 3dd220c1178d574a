"""Airflow-compatible import path ``flowctl.timetables``: re-exports only.

The real code lives in :mod:`flowctl.core.timetables`.
"""
