"""Sensors: tasks that wait for a condition (Airflow paths ``flowctl.sensors.*``).

Must not import flowctl.db, web, cli or scheduler.
"""
