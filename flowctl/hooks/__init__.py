"""Hooks: client-side connectors to external systems (Airflow path ``flowctl.hooks.*``)."""
