"""Identities of runs and task instances, shared by every layer, and what a run id, conf and note may be. Pure."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowctl.core.errors import ParamValidationError

#: Airflow 2's default ``[scheduler] allowed_run_id_pattern``: a run id goes into URLs and file paths.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.~:+-]+")
#: The run_id column's width.
MAX_RUN_ID_LENGTH = 250
#: The largest map index a request may name (the column is a 32-bit integer on PostgreSQL; SQLite
#: refuses 2**63 and above).
MAX_MAP_INDEX = 10**9
#: Containers (objects, arrays) a run conf may nest: deeper is refused on every Python alike (the
#: recursion limit that used to decide differs: 3.13 stored a conf 5,000 deep that 3.11 refused).
MAX_CONF_DEPTH = 100
#: Airflow's limit of a run's or task instance's note.
MAX_NOTE = 1_000


def check_run_id(run_id: str) -> None:
    """ParamValidationError unless ``run_id`` is 1 to 250 characters of ``A-Za-z0-9_.~:+-``."""
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise ParamValidationError(f"run id {run_id[:40]!r}... is longer than {MAX_RUN_ID_LENGTH} characters")
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise ParamValidationError(f"run id {run_id!r} may only hold letters, digits and _ . ~ : + - "
                                   f"(Airflow's allowed_run_id_pattern), and not be empty")


def check_logical_date(logical_date: datetime) -> None:
    """ParamValidationError for a date whose day before or after a task's context could not hold."""
    if not 1 < logical_date.year < 9999:
        raise ParamValidationError(f"logical date {logical_date.isoformat()} must be after the year 1 and "
                                   f"before the year 9999")


def check_note(note: str | None) -> None:
    """ParamValidationError for a note longer than :data:`MAX_NOTE` characters (None: no note)."""
    if note is not None and len(note) > MAX_NOTE:
        raise ParamValidationError(f"note must be at most {MAX_NOTE} characters")


def check_conf(conf: Any) -> None:
    """ParamValidationError for a run conf that is not plain JSON: NaN or Infinity (which no strict
    JSON reader takes back), a lone surrogate (``"\\ud800"``, which UTF-8 cannot encode), or nested
    more than :data:`MAX_CONF_DEPTH` containers deep."""
    if _depth(conf) > MAX_CONF_DEPTH:
        raise ParamValidationError(f"conf is nested more than {MAX_CONF_DEPTH} levels deep")
    try:
        json.dumps(conf, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ParamValidationError("conf must be plain JSON: it holds a lone surrogate (such as \\ud800), "
                                   "which UTF-8 cannot encode") from None
    except ValueError as error:
        raise ParamValidationError(f"conf must be plain JSON: {error}") from None


def _depth(value: Any) -> int:
    """How many containers deep ``value`` nests (0 for a scalar), looking no deeper than MAX_CONF_DEPTH + 1."""
    depth, level = 0, [value]
    while depth <= MAX_CONF_DEPTH:
        containers = [item for item in level if isinstance(item, (dict, list, tuple))]
        if not containers:
            break
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]
    return depth


@dataclass(frozen=True, slots=True, order=True)
class RunKey:
    """Identifies one DAG run."""

    dag_id: str
    run_id: str


@dataclass(frozen=True, slots=True, order=True)
class TaskInstanceKey:
    """Identifies one task instance, all its tries (Airflow's key without try_number)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @property
    def run_key(self) -> RunKey:
        return RunKey(self.dag_id, self.run_id)

    def __str__(self) -> str:
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{suffix} @ {self.run_id}"
