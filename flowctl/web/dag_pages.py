"""Registers every per-DAG blueprint (pages, charts, runs, actions) on the app in one call.

Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

from flask import Flask


def register_dag_pages(app: Flask) -> None:
    """Add the DAG, chart, run, and action blueprints."""
    from flowctl.web import dag_actions, dag_charts, dag_views, run_actions, run_views

    for module in (dag_views, dag_charts, run_views, run_actions, dag_actions):
        app.register_blueprint(module.bp)
