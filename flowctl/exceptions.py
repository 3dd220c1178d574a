"""Airflow-compatible path ``flowctl.exceptions``: re-exports of core/errors.py."""
from __future__ import annotations

from flowctl.core.errors import *  # noqa: F401,F403
from flowctl.core.errors import (  # noqa: F401
    AirflowBadRequest,
    AirflowConfigException,
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowDagCycleException,
    AirflowTaskTimeout,
    DagCycleException,
    DuplicateTaskIdFound,
    TaskDeferralError,
    TaskDeferralTimeout,
    TaskDeferred,
)
