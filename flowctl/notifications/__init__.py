"""Airflow-compatible package ``flowctl.notifications`` (notifiers are not supported; see basenotifier)."""
