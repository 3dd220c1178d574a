"""``dags test`` and ``dags backfill --local`` over the in-process run loop, printing with click.

The loop itself (:class:`LocalRun`: plan, apply, run each try here) is
``flowctl/scheduler/local_run.py``, which ``DAG.test()`` shares; this module
only hands it the command's store and settings and ``click.echo``. Imported
lazily by ``flowctl/cli/run_cmd.py`` and ``flowctl/cli/backfill_cmd.py`` only.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from flowctl.core.keys import RunKey
from flowctl.scheduler import local_run
from flowctl.scheduler.local_run import Echo, LocalRun

__all__ = ["LocalRun", "run_locally", "test_dag"]


def run_locally(ctx: Any, keys: Sequence[RunKey], echo: Echo) -> list[str]:
    """Run each of ``keys`` (queued or running) to its end, oldest first; their final states."""
    return local_run.run_locally(ctx.store, ctx.settings, keys, echo)


def test_dag(ctx: Any, dag_id: str, logical_date: datetime, conf: dict[str, Any] | None) -> str:
    """``dags test``: a fresh run of the DAG as its file is now, run here; its final state."""
    return local_run.dags_test(ctx.store, ctx.settings, dag_id, logical_date, conf, click.echo)
