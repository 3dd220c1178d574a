"""What the zygote knows of each child it forked, and reading the messages a child sends on its pipe.

A :class:`Supervised` child runs a try the zygote claimed (or is a spare waiting for one): the
zygote heartbeats it and writes its end. An :class:`Unsupervised` one claims and records its try
itself (the zygote could not reach the database). The messages are JSON lines (:mod:`pipes`).
Must not import SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from flowctl.executors.base import Workload


@dataclass
class Supervised:
    """A running child and what the zygote knows of its try (a spare knows none yet:
    ``Zygote._fork_spare``)."""

    request_id: int | None
    workload: Workload | None
    claim: Any  # None until the claim's answer came (then the child was handed it)
    results: int | None  # read end of the child's messages (None once at EOF)
    answers: int  # write end of the answers to the child
    next_beat: float
    buffer: bytes = b""
    rendered: Any = None
    rendered_saved: bool = False
    ended: bool = False  # the zygote wrote its end (won or lost): no more heartbeats
    pid: int | None = None  # the child's: its heartbeats and end write it to the row (the claim holds ours)
    learner: bool = False  # forked copying nothing ahead: its pages are looked at as it ends (prefault)

    @property
    def try_number(self) -> int:
        return int(self.claim.ti.try_number)


@dataclass
class Unsupervised:
    """A child that claims and records its own try (the database was not reachable from here)."""

    request_id: int
    workload: Workload


def read_messages(child: Supervised) -> list[dict[str, Any]]:
    """The complete JSON lines now readable from a child (marks its pipe closed at EOF)."""
    assert child.results is not None
    while True:
        try:
            chunk = os.read(child.results, 65536)
        except BlockingIOError:
            break
        if not chunk:
            os.close(child.results)
            child.results = None
            break
        child.buffer += chunk
    *lines, child.buffer = child.buffer.split(b"\n")
    return [json.loads(line) for line in lines if line.strip()]
