"""A real scheduler records an SLA miss of a scheduled run once and calls sla_miss_callback once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import DIALECTS, Deploy

SLA_DAG = '''
import os
import time
from datetime import datetime, timedelta, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator

OUT = "{out}"


def missed(dag, task_list, blocking_task_list, slas, blocking_tis):
    fd = os.open(os.path.join(OUT, "sla.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (f"{dag.dag_id} {len(slas)} " + task_list.replace("\\n", ";") + "\\n").encode())
    finally:
        os.close(fd)


with DAG("late", schedule="@daily", start_date=datetime.now(timezone.utc) - timedelta(days=3), catchup=False,
         sla_miss_callback=missed):
    # The period [yesterday, today) ended at midnight: an SLA of one second has passed long ago.
    PythonOperator(task_id="slow", python_callable=lambda: time.sleep(3), sla=timedelta(seconds=1))
    PythonOperator(task_id="free", python_callable=lambda: None)
'''


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_scheduled_task_past_its_sla_is_recorded_and_notified_once_and_a_manual_run_never(
        deploy: Deploy, dialect: str) -> None:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if datetime.now(timezone.utc) - today < timedelta(seconds=30):
        pytest.skip("too close to midnight UTC: the due interval may change mid-test")
    d = deploy(dialect, scheduler__sla_check_interval="0.5")
    d.write_dag("late.py", SLA_DAG)
    d.start_scheduler()
    scheduled = d.wait_for(lambda: d.store.list_runs("late"), 25, "the scheduled run")[0]
    manual = d.trigger("late")
    d.wait_for(lambda: d.store.sla_miss_page().total >= 1, 30, "an SLA miss")
    d.wait_for(lambda: d.store.sla_miss_page().items[0].notification_sent, 30, "the SLA miss notified")
    d.wait_for_run("late", scheduled.run_id, timeout=30)
    d.wait_for_run("late", manual, timeout=30)
    misses = d.store.sla_miss_page().items
    assert [(m.run_id, m.task_id, m.notification_sent) for m in misses] == [(scheduled.run_id, "slow", True)]
    assert (d.out / "sla.log").read_text().splitlines() == [
        f"late 1 slow on {scheduled.logical_date.isoformat()}"]
