"""FileSensor: wait until a file (or a glob match) exists.

``filepath`` is joined to the ``path`` in the extra of connection ``fs_conn_id``
when a connection resolver is installed (in a task); a ``fs_conn_id`` that does not
exist fails the poke, as in Airflow, except ``fs_default`` (Airflow's ``db init``
creates it, flowctl does not): without it ``filepath`` is used as is. A matching directory counts when it contains a file (at any
depth). ``deferrable=True`` waits in the triggerer (FileTrigger) instead of a worker slot.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import glob
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from flowctl.core.errors import FlowctlError, NotFoundError
from flowctl.hooks.base import BaseHook, get_connection_resolver
from flowctl.sensors.base import BaseSensorOperator

log = logging.getLogger("flowctl.task")
DEFAULT_CONN_ID = "fs_default"


def base_path_for(conn_id: str) -> str:
    """The ``path`` extra of a filesystem connection, or ``""`` (also for ``fs_default`` when it does
    not exist: Airflow creates it, flowctl does not); another connection that does not exist raises."""
    if get_connection_resolver() is None:
        return ""
    try:
        connection = BaseHook.get_connection(conn_id)
    except NotFoundError:
        if conn_id == DEFAULT_CONN_ID:
            return ""
        raise
    extra = getattr(connection, "extra_dejson", None) or {}
    return str(extra.get("path", ""))


def path_has_files(pattern: str, recursive: bool) -> bool:
    """Whether ``pattern`` matches a file or a directory containing a file."""
    for path in glob.glob(pattern, recursive=recursive):
        if os.path.isfile(path):
            return True
        for _, _, files in os.walk(path):
            if files:
                return True
    return False


class FileSensor(BaseSensorOperator):
    """Succeeds once ``filepath`` exists (glob patterns allowed)."""

    template_fields: ClassVar[Sequence[str]] = ("filepath",)
    ui_color: ClassVar[str] = "#91818a"

    def __init__(self, *, filepath: str, fs_conn_id: str = DEFAULT_CONN_ID, recursive: bool = False,
                 deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.deferrable = deferrable

    def full_path(self) -> str:
        """``filepath`` under the connection's base path."""
        return os.path.join(base_path_for(self.fs_conn_id), self.filepath)

    def poke(self, context: Mapping[str, Any]) -> bool:
        full_path = self.full_path()
        log.info("Poking for file %s", full_path)
        return path_has_files(full_path, self.recursive)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke once; with ``deferrable=True`` a miss defers to a FileTrigger (no worker slot while it
        waits) that looks every ``poke_interval`` seconds, for at most ``timeout`` seconds."""
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from flowctl.triggers.file import FileTrigger

        self.defer(trigger=FileTrigger(filepath=self.full_path(), recursive=self.recursive,
                                       poke_interval=self.poke_interval),
                   method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """The trigger found the file (the deferral's end)."""
        if not event:
            raise FlowctlError(f"{self.task_id} failed: {self.filepath} was not found")
        log.info("%s found", self.filepath)
