"""A real scheduler creates scheduled runs from timetables: catchup on and off."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.dags import catchup_dags


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_daily_dag_started_three_days_ago_catches_up_three_runs_and_one_without_catchup(
        deploy: Deploy, dialect: str) -> None:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if datetime.now(timezone.utc) - today < timedelta(seconds=30):
        pytest.skip("too close to midnight UTC: the number of due intervals may change mid-test")
    d = deploy(dialect)
    d.write_dag("catchup.py", catchup_dags(today - timedelta(days=3)))
    d.start_scheduler()

    def finished(dag_id: str, count: int) -> bool:
        runs = d.store.list_runs(dag_id)
        return len(runs) >= count and all(r.state == "success" for r in runs)

    d.wait_for(lambda: finished("catchup_on", 3), 25, "3 successful catchup_on runs")
    d.wait_for(lambda: finished("catchup_off", 1), 10, "1 successful catchup_off run")
    on = sorted(d.store.list_runs("catchup_on"), key=lambda r: r.logical_date)
    off = d.store.list_runs("catchup_off")
    assert [r.logical_date for r in on] == [today - timedelta(days=n) for n in (3, 2, 1)]
    assert all(r.run_type == "scheduled" for r in on)
    assert [(r.logical_date, r.data_interval_end) for r in off] == [(today - timedelta(days=1), today)]
    assert len(d.store.list_runs("catchup_on")) == 3  # the interval ending tomorrow is not due
    lines = d.effects()
    assert sorted(line[0] for line in lines) == ["catchup_off"] + ["catchup_on"] * 3
