"""FileTrigger: fires once a file (or a glob match) exists (Airflow's ``airflow.triggers.file``).

It looks every ``poke_interval`` seconds, as FileSensor's poke does (a directory counts when
it holds a file), with the same helper; the event's payload is ``True``.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from flowctl.triggers.base import BaseTrigger, TriggerEvent


class FileTrigger(BaseTrigger):
    """Fires when ``filepath`` (glob patterns allowed, ``**`` with ``recursive``) matches a file."""

    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return "flowctl.triggers.file.FileTrigger", {"filepath": self.filepath, "recursive": self.recursive,
                                                     "poke_interval": self.poke_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from flowctl.sensors.filesystem import path_has_files  # the sensor's own test of a match

        while not await asyncio.to_thread(path_has_files, self.filepath, self.recursive):
            await asyncio.sleep(self.poke_interval)
        self.log.info("found %s", self.filepath)
        yield TriggerEvent(True)
