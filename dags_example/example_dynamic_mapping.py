"""Dynamic task mapping: one mapped task instance per file found at run time."""
from __future__ import annotations

from datetime import datetime

from flowctl.decorators import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["example", "mapping"])
def example_dynamic_mapping():
    @task
    def list_files() -> list[str]:
        return ["a.csv", "b.csv", "c.csv"]

    @task
    def count_rows(path: str, rows_per_kb: int) -> int:
        return len(path) * rows_per_kb

    @task
    def total(counts: list[int]) -> int:
        result = sum(counts)
        print(f"{result} rows in total")
        return result

    counts = count_rows.partial(rows_per_kb=10).expand(path=list_files())
    total(counts)


example_dynamic_mapping()
