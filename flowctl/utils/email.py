"""Airflow-compatible path ``flowctl.utils.email``: ``send_email`` over SMTP (``[smtp]`` settings)."""
from __future__ import annotations

from flowctl.hooks.smtp import send_email

__all__ = ["send_email"]
