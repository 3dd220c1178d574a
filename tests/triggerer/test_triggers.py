"""The built-in triggers, run on an event loop: temporal ones fire at their moment, FileTrigger on a match."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flowctl.triggerer.job import load_trigger
from flowctl.core.deferral import encode_json
from flowctl.triggers.base import TriggerEvent
from flowctl.triggers.file import FileTrigger
from flowctl.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger


async def _first(trigger: object) -> TriggerEvent:
    async for event in trigger.run():  # type: ignore[attr-defined]
        return event
    raise AssertionError("no event")


def test_a_time_delta_trigger_fires_with_its_moment_once_it_has_come() -> None:
    trigger = TimeDeltaTrigger(timedelta(seconds=0.1))
    event = asyncio.run(asyncio.wait_for(_first(trigger), 5))
    assert event == TriggerEvent(trigger.moment) and datetime.now(timezone.utc) >= trigger.moment


def test_a_date_time_trigger_needs_an_aware_moment_and_is_rebuilt_from_what_it_serializes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DateTimeTrigger(datetime(2030, 1, 1))
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    classpath, kwargs = TimeDeltaTrigger(timedelta(0)).serialize()
    rebuilt = load_trigger(*DateTimeTrigger(moment).serialize()[:1], encode_json({"moment": moment}))
    assert classpath == "flowctl.triggers.temporal.DateTimeTrigger" and rebuilt.moment == moment


def test_a_file_trigger_fires_once_the_file_exists(tmp_path: Path) -> None:
    async def scenario() -> TriggerEvent:
        waiting = asyncio.ensure_future(_first(FileTrigger(str(tmp_path / "*.csv"), poke_interval=0.05)))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        (tmp_path / "a.csv").write_text("x")
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(scenario()) == TriggerEvent(True)


def test_a_trigger_logs_under_its_module_and_class_name_as_airflow_s_do() -> None:
    from flowctl.triggers.file import FileTrigger

    assert FileTrigger(filepath="/nowhere").log.name == "flowctl.triggers.file.FileTrigger"
