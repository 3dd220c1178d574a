"""A TaskFlow pipeline: plain Python functions, data passed as return values."""
from __future__ import annotations

from datetime import datetime

from flowctl.decorators import dag, task


@dag(
    schedule="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "taskflow"],
)
def example_taskflow():
    """Extract a few readings, compute statistics, report them."""

    @task
    def extract() -> list[float]:
        return [21.5, 22.0, 23.25, 19.75]

    @task(multiple_outputs=True)
    def stats(readings: list[float]) -> dict:
        return {"low": min(readings), "high": max(readings), "mean": sum(readings) / len(readings)}

    @task
    def report(low: float, high: float, mean: float) -> str:
        line = f"low={low} high={high} mean={mean:.2f}"
        print(line)
        return line

    summary = stats(extract())
    report(summary["low"], summary["high"], summary["mean"])


example_taskflow()
