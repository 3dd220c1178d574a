"""The ``ti`` object a running task sees, and where its XComs and skips go.

:class:`RuntimeTaskInstance` has Airflow's names (``dag_id``, ``task_id``,
``run_id``, ``map_index``, ``try_number``, ``max_tries``, ``xcom_push``,
``xcom_pull``, ``skip_except`` for branches, ``skip_downstream`` for
short-circuits). It writes through a :class:`TryBackend`: :class:`StoreBackend`
for real tries, :class:`MemoryBackend` for ``tasks test`` / ``dags test``
(nothing recorded in the database; XComs kept in memory, reads fall back to
the store when there is one). Through the backend a task also reaches other
DAGs' runs (``trigger_dag_run``, ``find_dag_run``, ``clear_dag_run``,
``dag_run_state``: what TriggerDagRunOperator needs; see ``run_control.py``) and reads other
runs and task instances (``ti.previous_ti``, ``dag_run.get_task_instances()``, ``xcom_pull`` with
``dag_id`` or ``include_prior_dates``; see ``run_reads.py``).
XCom values are encoded to plain JSON (``flowctl.core.xcom_values``:
datetimes, dates, times, timedeltas tagged) in
:meth:`RuntimeTaskInstance.xcom_push` and decoded in its ``xcom_pull``, so
backends, pipes and the Store only ever hold JSON. Must not import web, cli
or scheduler.
"""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from flowctl.core.errors import NotSupportedError
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.xcom_arg import XCOM_RETURN_KEY, XCOM_SKIPMIXIN_KEY
from flowctl.core.xcom_values import decode_xcom_value, encode_xcom_value, xcom_size
from flowctl.task_runner.run_control import NoRunControl, StoreRunControl
from flowctl.task_runner.run_reads import NoReads, StoreReads
from flowctl.task_runner.try_details import TryDetails

log = logging.getLogger("flowctl.task")
_MISSING = object()
#: "No such XCom" where the answer may cross the task agent's wire (JSON): no stored value equals it.
_ABSENT = "\x00flowctl: no such xcom\x00"
_READS = frozenset({"task_instance", "task_instances", "previous_run", "previous_task_instance", "run_of",
                    "xcom_pull_prior"})


class TryBackend(Protocol):
    """Where a try's XComs (already encoded to plain JSON) and skips are written."""

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: Any) -> None: ...

    def xcom_pull(self, run: RunKey, task_id: str, key: str, map_index: int, default: Any) -> Any: ...

    def xcom_pull_mapped(self, run: RunKey, task_id: str, key: str) -> list[Any]: ...

    def xcom_values(self, run: RunKey, task_id: str, key: str) -> dict[int, Any]: ...

    def xcom_pull_any(self, run: RunKey, key: str, default: Any) -> Any: ...

    def skip(self, run: RunKey, task_ids: set[str]) -> list[str]: ...

    def trigger_run(self, dag_id: str, run_id: str, logical_date: datetime, conf: dict[str, Any]) -> Any: ...

    def find_run(self, dag_id: str, run_id: str, logical_date: datetime) -> Any: ...

    def clear_run(self, dag_id: str, run_id: str) -> None: ...

    def run_state(self, dag_id: str, run_id: str) -> str: ...

    def run_of(self, dag_id: str, run_id: str, logical_date: datetime) -> RunKey | None: ...

    def xcom_pull_prior(self, dag_id: str, task_id: str | None, key: str, map_index: int, until: datetime,
                        default: Any) -> Any: ...

    def previous_task_instance(self, key: TaskInstanceKey, logical_date: datetime, state: Any = None) -> Any: ...


class StoreBackend(StoreRunControl, StoreReads):
    """XComs and skips in the metadata database; ``clock`` gives the time of each write."""

    def __init__(self, store: Any, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        self.store.xcom_push(ti, key, value, self.clock())

    def xcom_pull(self, run: RunKey, task_id: str, key: str, map_index: int, default: Any) -> Any:
        return self.store.xcom_pull(run, task_id, key, map_index, default)

    def xcom_pull_mapped(self, run: RunKey, task_id: str, key: str) -> list[Any]:
        return list(self.store.xcom_pull_mapped(run, task_id, key))

    def xcom_values(self, run: RunKey, task_id: str, key: str) -> dict[int, Any]:
        return stored_xcom_values(self.store, run, task_id, key)

    def xcom_pull_any(self, run: RunKey, key: str, default: Any) -> Any:
        for record in self.store.list_xcoms(run):
            if record.key == key:
                return record.value
        return default

    def skip(self, run: RunKey, task_ids: set[str]) -> list[str]:
        return list(self.store.skip_tasks(run, task_ids, self.clock()))


def stored_xcom_values(store: Any, run: RunKey, task_id: str, key: str) -> dict[int, Any]:
    """map index -> value of what ``task_id`` pushed under ``key`` in ``run`` (only what exists)."""
    return {record.map_index: record.value for record in store.list_xcoms(run, task_id) if record.key == key}


class DeferredXComs:
    """A try's own XCom pushes kept until its end, when the supervisor writes them with the final
    state (only if that state is written); reads of them see the kept values, the rest go to ``backend``.

    ``check(ti, key, value)`` raises at push time what the database would (not JSON, too large).
    """

    def __init__(self, backend: Any, key: TaskInstanceKey, check: Callable[[TaskInstanceKey, str, Any], None]
                 ) -> None:
        self._backend = backend
        self._key = key
        self._check = check
        self.pushed: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        if ti != self._key:
            self._backend.xcom_push(ti, key, value)
            return
        self._check(ti, key, value)
        self.pushed[key] = json.loads(json.dumps(value))  # as stored: a later change to value is not seen

    def xcom_pull(self, run: RunKey, task_id: str, key: str, map_index: int, default: Any) -> Any:
        if (run == self._key.run_key and task_id == self._key.task_id and map_index == self._key.map_index
                and key in self.pushed):
            return self.pushed[key]
        return self._backend.xcom_pull(run, task_id, key, map_index, default)

    def xcom_values(self, run: RunKey, task_id: str, key: str) -> dict[int, Any]:
        found = dict(self._backend.xcom_values(run, task_id, key))
        if run == self._key.run_key and task_id == self._key.task_id and key in self.pushed:
            found[self._key.map_index] = self.pushed[key]
        return found


class MemoryBackend(NoRunControl):
    """XComs and skips kept in memory (``tasks test``, ``dags test``); reads fall back to ``store``
    (other runs and task instances too: :mod:`~flowctl.task_runner.run_reads`)."""

    def __init__(self, store: Any = None) -> None:
        self.store = store
        self.xcoms: dict[tuple[str, str, int, str], Any] = {}
        self.skipped: set[str] = set()
        self.reads: StoreReads | NoReads = NoReads() if store is None else StoreReads(store)

    def __getattr__(self, name: str) -> Any:
        if name in _READS:  # task_instance(s), previous_run, previous_task_instance, run_of, xcom_pull_prior
            return getattr(self.reads, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        xcom_size(value)  # the same JSON check as the database
        self.xcoms[(ti.run_id, ti.task_id, ti.map_index, key)] = value

    def xcom_pull(self, run: RunKey, task_id: str, key: str, map_index: int, default: Any) -> Any:
        found = self.xcoms.get((run.run_id, task_id, map_index, key), _MISSING)
        if found is not _MISSING:
            return found
        return default if self.store is None else self.store.xcom_pull(run, task_id, key, map_index, default)

    def xcom_pull_mapped(self, run: RunKey, task_id: str, key: str) -> list[Any]:
        found = sorted((k[2], v) for k, v in self.xcoms.items()
                       if k[0] == run.run_id and k[1] == task_id and k[3] == key and k[2] >= 0)
        if found or self.store is None:
            return [v for _, v in found]
        return list(self.store.xcom_pull_mapped(run, task_id, key))

    def xcom_values(self, run: RunKey, task_id: str, key: str) -> dict[int, Any]:
        found = {} if self.store is None else stored_xcom_values(self.store, run, task_id, key)
        found.update({k[2]: v for k, v in self.xcoms.items() if k[0] == run.run_id and k[1] == task_id and k[3] == key})
        return found

    def xcom_pull_any(self, run: RunKey, key: str, default: Any) -> Any:
        for (run_id, _, _, xcom_key), value in self.xcoms.items():
            if run_id == run.run_id and xcom_key == key:
                return value
        return default

    def skip(self, run: RunKey, task_ids: set[str]) -> list[str]:
        new = sorted(task_ids - self.skipped)
        self.skipped |= task_ids
        return new


class RuntimeTaskInstance(TryDetails):
    """``context["ti"]``: one try of one task instance, as the task's code sees it (Airflow's
    descriptive attributes: :mod:`~flowctl.task_runner.try_details`)."""

    def __init__(self, key: TaskInstanceKey, task: Any, try_number: int, max_tries: int,
                 backend: TryBackend, hostname: str = "", start_date: datetime | None = None,
                 log_url_of: Callable[[], str] | None = None, row: Any = None) -> None:
        self.key = key
        self.dag_id, self.run_id, self.task_id, self.map_index = key.dag_id, key.run_id, key.task_id, key.map_index
        self.task = task
        self.try_number = try_number
        self.max_tries = max_tries
        self.backend = backend
        self.hostname = hostname
        self.start_date = start_date
        self.state = "running"
        self.row = row
        self.log = log
        self._log_url_of = log_url_of

    @functools.cached_property
    def log_url(self) -> str:
        """The web UI address of this try's log, worked out on first read (few tasks read it)."""
        if self._log_url_of is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'log_url'")
        return self._log_url_of()

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.key} try {self.try_number}>"

    @property
    def run_key(self) -> RunKey:
        return self.key.run_key

    @property
    def prev_attempted_tries(self) -> int:
        return max(self.try_number - 1, 0)

    @property
    def next_try_number(self) -> int:
        """The number the try after this one gets (Airflow 2's ``next_try_number``)."""
        return self.try_number + 1

    def xcom_push(self, key: str, value: Any, execution_date: Any = None) -> None:
        """Store ``value`` under ``key`` for tasks downstream to pull."""
        self.backend.xcom_push(self.key, key, encode_xcom_value(value))

    def xcom_pull(self, task_ids: str | Iterable[str] | None = None, dag_id: str | None = None,
                  key: str = XCOM_RETURN_KEY, include_prior_dates: bool = False,
                  map_indexes: int | Iterable[int] | None = None, default: Any = None) -> Any:
        """A value another task pushed in this run (a list for several task_ids or a mapped task).

        ``dag_id``: that DAG's run with this run id (else at this logical date). ``include_prior_dates``:
        the value of the latest run at or before this run's logical date, this run first.
        """
        if include_prior_dates:
            return self._pull_prior(task_ids, dag_id or self.dag_id, key, map_indexes, default)
        run = self._run_to_read(dag_id)
        if run is None:
            return default if isinstance(task_ids, str) or task_ids is None else []
        if task_ids is None:
            return decode_xcom_value(self.backend.xcom_pull_any(run, key, default))
        if isinstance(task_ids, str) and (map_indexes is None or isinstance(map_indexes, int)):
            return decode_xcom_value(self._pull_one(run, task_ids, key, map_indexes, default))
        return [decode_xcom_value(value) for value in self._pull_many(run, task_ids, key, map_indexes)]

    def _run_to_read(self, dag_id: str | None) -> RunKey | None:
        if dag_id is None or dag_id == self.dag_id:
            return self.run_key
        return self.backend.run_of(dag_id, self.run_id, self.logical_date)

    def _pull_prior(self, task_ids: str | Iterable[str] | None, dag_id: str, key: str,
                    map_indexes: int | Iterable[int] | None, default: Any) -> Any:
        """``include_prior_dates``: per task id, this run's value (a try's own pushes included), else
        the latest one at or before this run's logical date (Airflow 2 reads those newest first)."""
        if map_indexes is not None and not isinstance(map_indexes, int):
            raise NotSupportedError("xcom_pull(include_prior_dates=True) takes one map index (or none), "
                                    "not several; pull each map index on its own")
        index = -1 if map_indexes is None else map_indexes
        wanted = [task_ids] if isinstance(task_ids, str) or task_ids is None else list(task_ids)
        if map_indexes is None and dag_id == self.dag_id and any(t is not None and self._is_mapped(t) for t in wanted):
            raise NotSupportedError("xcom_pull(include_prior_dates=True) of a mapped task needs map_indexes=<one "
                                    "index>")
        values = []
        for task_id in wanted:
            found: Any = _ABSENT
            if dag_id == self.dag_id and task_id is not None:
                found = self.backend.xcom_pull(self.run_key, task_id, key, index, _ABSENT)
            if found == _ABSENT:
                found = self.backend.xcom_pull_prior(dag_id, task_id, key, index, self.logical_date, _ABSENT)
            values.append(found)
        if isinstance(task_ids, str) or task_ids is None:
            return default if values[0] == _ABSENT else decode_xcom_value(values[0])
        return [decode_xcom_value(v) for v in values if v != _ABSENT]

    def _pull_many(self, run: RunKey, task_ids: str | Iterable[str], key: str,
                   map_indexes: int | Iterable[int] | None) -> list[Any]:
        """Airflow 2 for several task ids or map indexes: only the values that exist, in ``task_ids``
        order, then by ``map_indexes`` order (all map indexes, ascending, when None)."""
        wanted = None if map_indexes is None else [map_indexes] if isinstance(map_indexes, int) else list(map_indexes)
        values: list[Any] = []
        for task_id in [task_ids] if isinstance(task_ids, str) else task_ids:
            found = self.backend.xcom_values(run, task_id, key)
            values.extend(found[i] for i in (sorted(found) if wanted is None else wanted) if i in found)
        return values

    def _pull_one(self, run: RunKey, task_id: str, key: str, map_indexes: int | None, default: Any) -> Any:
        if isinstance(map_indexes, int):
            return self.backend.xcom_pull(run, task_id, key, map_indexes, default)
        if self._is_mapped(task_id):
            return self.backend.xcom_pull_mapped(run, task_id, key)
        return self.backend.xcom_pull(run, task_id, key, -1, default)

    def _is_mapped(self, task_id: str) -> bool:
        dag = getattr(self.task, "dag", None)
        if dag is None or not dag.has_task(task_id):
            return False
        return bool(getattr(dag.get_task(task_id), "is_mapped", False))

    def skip_except(self, task: Any, follow_task_ids: Iterable[str]) -> list[str]:
        """Branching: skip ``task``'s direct downstream tasks not followed (nor below a followed one)."""
        from flowctl.operators.branch import branch_skip_ids

        skip = branch_skip_ids(task, follow_task_ids)
        # the decision outlives the skip: a clear of a task not followed keeps it skipped (as Airflow's)
        self.xcom_push(XCOM_SKIPMIXIN_KEY, {"followed": sorted(set(task.downstream_task_ids) - skip)})
        return self._skip(skip, f"branch {task.task_id!r}")

    def skip_downstream(self, task: Any, respect_trigger_rules: bool) -> list[str]:
        """Short-circuit: skip ``task``'s direct downstream (or all downstream) tasks."""
        from flowctl.operators.python import short_circuit_skip_ids

        skip = short_circuit_skip_ids(task, respect_trigger_rules)
        self.xcom_push(XCOM_SKIPMIXIN_KEY, {"skipped": sorted(skip)})
        return self._skip(skip, f"short-circuit {task.task_id!r}")

    # --- other DAGs' runs (TriggerDagRunOperator) ---------------------------------------------------
    def trigger_dag_run(self, dag_id: str, run_id: str, logical_date: datetime, conf: dict[str, Any]) -> Any:
        """Create a queued manual run of ``dag_id`` (DagRunAlreadyExists if the id or date is taken)."""
        return self.backend.trigger_run(dag_id, run_id, logical_date, conf)

    def find_dag_run(self, dag_id: str, run_id: str, logical_date: datetime) -> Any:
        """The run of ``dag_id`` with ``run_id`` or, failing that, at ``logical_date``."""
        return self.backend.find_run(dag_id, run_id, logical_date)

    def clear_dag_run(self, dag_id: str, run_id: str) -> None:
        """Clear every task instance of that run so it runs again."""
        self.backend.clear_run(dag_id, run_id)

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        """The state of that run now."""
        return self.backend.run_state(dag_id, run_id)

    def _skip(self, task_ids: set[str], why: str) -> list[str]:
        if not task_ids:
            return []
        skipped = self.backend.skip(self.run_key, set(task_ids))
        log.info("Skipping %s (%s)", ", ".join(sorted(task_ids)), why)
        return skipped
