"""``python -m flowctl.dag_processing.worker FILE``: parse one DAG file, print JSON.

The one-shot, cold form of what a forkserver child does: import ``FILE``,
print ``{"path", "dags": [serialized DAG, ...], "error": null}`` on stdout and
exit 0, or print the same object with the traceback in ``error`` and exit 1.
Naive dates in the file are in ``[core] default_timezone`` of the settings
(config file and ``FLOWCTL__…`` variables), as in the forkserver's children.
Handy to debug one file (``flowctl dags check`` is the friendlier form); the
processor uses the warm forkserver instead. Must not import db, web, cli or
scheduler.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def parse_file(path: Path) -> dict[str, Any]:
    """The answer for one file: its serialized DAGs, or the import error."""
    from flowctl.dag_processing.loader import add_to_sys_path, format_import_error, load_dags_from_file
    from flowctl.dag_processing.serialization import serialize_dag

    add_to_sys_path(path.parent)
    try:
        dags = [serialize_dag(dag) for dag in load_dags_from_file(path)]
    except BaseException as exc:  # noqa: BLE001 - process boundary: every failure becomes a record
        return {"path": str(path), "dags": [], "error": format_import_error(exc, path)}
    return {"path": str(path), "dags": dags, "error": None}


def main(argv: list[str]) -> int:
    """Parse ``argv[0]`` and print the answer; stray prints of the file go to stderr."""
    if len(argv) != 1:
        print("usage: python -m flowctl.dag_processing.worker FILE", file=sys.stderr)
        return 2
    from flowctl.core.timezones import use_default_timezone
    from flowctl.settings import Settings

    use_default_timezone(Settings.load().default_timezone)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    answer = parse_file(Path(argv[0]).absolute())
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0 if answer["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
