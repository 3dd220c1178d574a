"""The processes a scheduler starts: who they are, and that none outlives its work."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import dags
from tests.e2e.conftest import DIALECTS, Deploy
from tests.e2e.harness import tagged_pids


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_task_agent_is_forked_by_the_scheduler_and_ends_with_its_zygote(deploy: Deploy, dialect: str) -> None:
    d = deploy(dialect)
    d.write_dag("chain.py", dags.CHAIN)
    scheduler = d.start_scheduler()
    run_id = d.trigger("chain")
    assert d.wait_for_run("chain", run_id, timeout=30) == "success"
    processes = {pid: (_read(Path(f"/proc/{pid}/comm")), _read(Path(f"/proc/{pid}/cmdline")))
                 for pid in tagged_pids(d.tag)}
    agents = [pid for pid, (comm, _) in processes.items() if comm == "flowctl agent"]
    assert len(agents) == 1, processes
    assert "scheduler" in processes[agents[0]][1]  # a fork of the scheduler, not an interpreter of its own
    assert not any("flowctl.task_runner.agent" in cmdline for _, cmdline in processes.values()), processes
    assert any("flowctl.task_runner.zygote" in cmdline for _, cmdline in processes.values()), processes

    assert scheduler.terminate() == 0
    d.wait_for(lambda: not tagged_pids(d.tag), 15, "the zygote and the task agent to exit after the scheduler")
