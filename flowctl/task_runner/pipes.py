"""The pipes between the zygote and the tries it supervises: JSON lines, one message each.

A try is forked before its claim is known: it first waits for ``{"claim": c}``
(the wire-encoded ClaimedTry), ``{"claim": null}`` (the try was claimed or
cleared since it was queued: do nothing) or ``{"self": true}`` (the zygote
could not claim: claim and record the try yourself). Then it sends
``{"rendered": fields}`` once its templates are rendered and
``{"end": {...}}`` when it ends (state, its time, fields with their datetimes
named, XComs, whether the task has dataset outlets, ``outlet_extra``, the
extras it set for their events, and ``alias_events``, the datasets it added to its
alias outlets, if any); the zygote answers the end with
``{"won": true|false|null}`` (null: the database refused the end, so the try writes it itself).
A try that writes its end itself (a deferral, a reschedule poke, an end the zygote could not
write) sends ``{"recorded": true}`` once it is written, unanswered: its exit is then a normal end.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import json
import os
import select
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flowctl.core.states import TaskInstanceState


#: ``json.dumps(message, default=str)`` builds an encoder per call; a try sends two messages.
_ENCODER = json.JSONEncoder(default=str)


class PipeSupervisor:
    """The child's side of the supervision pipes (see :class:`flowctl.task_runner.runner.Supervisor`)."""

    def __init__(self, results_fd: int, answers_fd: int) -> None:
        self.results_fd = results_fd
        self.answers_fd = answers_fd

    def claim(self) -> dict[str, Any] | None:
        """The zygote's first message (see the module docstring); None if the zygote is gone."""
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self.answers_fd, 65536)
            if not chunk:
                return None
            data += chunk
        return json.loads(data)

    def rendered(self, fields: Mapping[str, Any]) -> None:
        try:
            self._send({"rendered": fields})
        except OSError:  # the zygote is gone; the end says so
            pass

    def recorded(self) -> None:
        try:
            self._send({"recorded": True})
        except OSError:  # the zygote is gone: nobody is left to report the exit
            pass

    def finish(self, state: TaskInstanceState, now: datetime, fields: Mapping[str, Any],
               xcoms: Mapping[str, Any], produces: bool | None = None,
               outlet_extra: Mapping[str, Mapping[str, Any]] | None = None,
               alias_events: Sequence[Mapping[str, Any]] | None = None) -> bool | None:
        dates = sorted(name for name, value in fields.items() if isinstance(value, datetime))
        encoded = {name: value.isoformat() if name in dates else value for name, value in fields.items()}
        end: dict[str, Any] = {"state": TaskInstanceState(state).value, "now": now.isoformat(),
                               "fields": encoded, "dates": dates, "xcoms": dict(xcoms), "produces": produces}
        if outlet_extra:  # plain JSON already (checked by the try); most ends have none
            end["outlet_extra"] = outlet_extra
        if alias_events:
            end["alias_events"] = list(alias_events)
        answer = b""
        try:
            self._send({"end": end})
            while not answer.endswith(b"\n"):
                chunk = os.read(self.answers_fd, 4096)
                if not chunk:
                    return None
                answer += chunk
        except OSError:
            return None
        won = json.loads(answer)["won"]
        return None if won is None else bool(won)

    def _send(self, message: dict[str, Any]) -> None:
        write_all(self.results_fd, (_ENCODER.encode(message) + "\n").encode())


def decode_fields(end: dict[str, Any]) -> dict[str, Any]:
    """The fields of an end as the try had them (its datetimes back from ISO text)."""
    fields = dict(end.get("fields") or {})
    for name in end.get("dates") or ():
        fields[name] = datetime.fromisoformat(fields[name])
    return fields


def answer(fd: int, message: dict[str, Any]) -> None:
    try:
        write_all(fd, (json.dumps(message) + "\n").encode())
    except OSError:  # the child died meanwhile: its exit is reported as a crash
        pass


def poll(fds: list[int], timeout: float) -> list[int]:
    """The fds readable (or at EOF) within ``timeout`` seconds; poll(), so any number of children."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(max(0, int(timeout * 1000) + 1))]


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
