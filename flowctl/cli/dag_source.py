"""One DAG as its file defines it now: the CLI parses it itself, as Airflow's CLI does.

``tasks list``, ``dags next-execution``, ``dags details`` and ``dags backfill``
must work on a DAG that no scheduler has parsed yet, and show it as it is
after an edit, not as it was last parsed. They parse with the dag_processing
subprocess processor (user code never runs in the CLI process, nor in the
scheduler): only the DAG's known file when the database names one that still
defines it, else the whole folder (or ``--subdir``). :func:`store_parsed_dag`
then writes what was parsed as the DAG processor does (``flowctl/scheduler/
dag_sync.py``), so that the scheduler runs a backfill with the DAG as it is now.
Nothing imports this module but ``flowctl/cli`` modules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flowctl.cli.app import CliContext
from flowctl.core.errors import DagNotFound
from flowctl.dag_processing.processor import ParseResult, SerializedDagRecord, parse_folder


@dataclass(frozen=True, slots=True)
class ParsedDag:
    """A DAG just parsed, and the parse of the file(s) it came from."""

    record: SerializedDagRecord
    result: ParseResult

    @property
    def data(self) -> dict[str, Any]:
        """The DAG's serialized JSON."""
        return self.record.data


def parse_dag(ctx: CliContext, dag_id: str, subdir: str | None = None) -> ParsedDag:
    """Parse the file that defines ``dag_id`` (its known file, else the folder); DagNotFound says why."""
    if subdir is None:
        known = _known_file(ctx, dag_id)
        if known is not None:
            found = _find(parse_folder(ctx.settings, known), dag_id)
            if found is not None:
                return found
    folder = Path(subdir) if subdir else ctx.settings.dags_folder
    result = parse_folder(ctx.settings, folder)
    found = _find(result, dag_id)
    if found is None:
        raise DagNotFound(f"DAG {dag_id!r} not found in {folder}{_errors_note(result)}")
    return found


def store_parsed_dag(ctx: CliContext, parsed: ParsedDag, now: datetime) -> None:
    """Write the DAGs of the file(s) just parsed as the DAG processor would (the DAG's new version included)."""
    store_parse_result(ctx, parsed.result, now)


def store_parse_result(ctx: CliContext, result: ParseResult, now: datetime) -> tuple[int, int]:
    """Write a parse as the DAG processor does (``scheduler.dag_sync.store_parse_result``): (DAGs
    written, import errors), a DAG refused (a duplicate, a value the database refuses) among the errors."""
    from flowctl.scheduler.dag_sync import store_parse_result as store

    stored = store(ctx.store, ctx.settings, list(result.durations), result, now)
    return stored.dags, len(stored.errors)


def _known_file(ctx: CliContext, dag_id: str) -> str | None:
    """The file the database says defines ``dag_id``, if it still exists (no database: None)."""
    try:
        fileloc = ctx.store.get_dag(dag_id).fileloc
    except DagNotFound:
        return None
    except Exception:  # noqa: BLE001 - no usable database: parsing the folder needs none
        return None
    return fileloc if fileloc and Path(fileloc).is_file() else None


def _find(result: ParseResult, dag_id: str) -> ParsedDag | None:
    for record in result.dags:
        if record.dag_id == dag_id:
            return ParsedDag(record, result)
    return None


def _errors_note(result: ParseResult) -> str:
    if not result.import_errors:
        return ""
    files = ", ".join(sorted(result.import_errors))
    return f" ({len(result.import_errors)} file(s) failed to import: {files}; see `flowctl dags list-import-errors`)"
