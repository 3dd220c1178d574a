"""The runtime task instance a task sees: what it works out only when asked."""
from __future__ import annotations

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.task_runner.taskinstance import MemoryBackend, RuntimeTaskInstance

KEY = TaskInstanceKey("etl", "manual__1", "load")


def test_log_url_is_worked_out_on_first_read_and_only_once() -> None:
    asked: list[int] = []
    ti = RuntimeTaskInstance(KEY, None, 1, 0, MemoryBackend(),
                             log_url_of=lambda: asked.append(1) or "http://ui/dags/etl/grid")
    assert asked == []
    assert ti.log_url == "http://ui/dags/etl/grid"
    assert ti.log_url == "http://ui/dags/etl/grid"
    assert asked == [1]


def test_a_task_instance_without_a_log_url_source_has_no_log_url() -> None:
    ti = RuntimeTaskInstance(KEY, None, 1, 0, MemoryBackend())
    assert not hasattr(ti, "log_url")
    with pytest.raises(AttributeError, match="log_url"):
        ti.log_url
