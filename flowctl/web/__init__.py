"""The web UI: a Flask app (``flowctl.web.app.create_app``) over the metadata database.

Pages read serialized DAGs and rows through the Store; they never import DAG
files. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from flowctl.web.app import create_app

        return create_app
    raise AttributeError(name)
