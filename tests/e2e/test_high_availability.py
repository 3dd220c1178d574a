"""Three schedulers on one PostgreSQL database: every one of 500 tasks runs exactly once."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e import dags
from tests.e2e.conftest import Deploy


@pytest.mark.postgres
def test_three_schedulers_run_each_of_500_tasks_exactly_once(deploy: Deploy) -> None:
    d = deploy("postgresql", core__parallelism="32")
    d.write_dag("ha.py", dags.wide_dag("ha", 498))
    schedulers = [d.start_scheduler() for _ in range(3)]
    run_id = d.trigger("ha")
    assert d.wait_for_run("ha", run_id, timeout=60) == "success"
    tis = d.store.list_task_instances(d.store.get_run("ha", run_id).key)
    assert len(tis) == 500 and {ti.state for ti in tis} == {"success"}
    assert {ti.try_number for ti in tis} == {1}
    per_task = Counter(line[1] for line in d.effects())
    assert len(per_task) == 500 and set(per_task.values()) == {1}, "some task ran twice or never"
    assert all(s.alive() for s in schedulers), d.diagnostics()
    assert len({ti.queued_by_job_id for ti in tis}) >= 2, "only one scheduler did the work"
