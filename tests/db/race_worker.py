"""A process that claims the task instances it is sent, in lock-step with its rivals (test_race)."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from flowctl.db.engine import make_engine
from flowctl.db.records import TaskInstanceKey
from flowctl.db.store import Store


def claim_loop(url: str, keys: Any, barrier: Any, results: Any) -> None:
    """For each key received: wait for every rival, try to claim it, report (pid, won)."""
    store = Store(make_engine(url, pool_size=1))
    try:
        while (raw := keys.get()) is not None:
            key = TaskInstanceKey(*raw)
            barrier.wait(timeout=60)
            won = store.claim_queued_task(key, "racer", os.getpid(), datetime.now(timezone.utc))
            results.put((os.getpid(), won))
    finally:
        store.close()
