"""``flowctl dags test`` over a mapped task group: two chained tasks inside the group, the first's
output passed to the second (same map index), a reduce over the group's output, a classic operator
reading a group argument, ``partial()`` / ``expand_kwargs()``, and an empty input skipping the group."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.cli import main

MAPPED_GROUP = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.decorators import task, task_group
from flowctl.operators.bash import BashOperator

OUT = Path(__file__).with_name("group.txt")


def write(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")


@task
def numbers():
    return [1, 2, 3]


@task
def nothing():
    return []


@task
def scale(x, factor):
    write(f"scale:{x}:{factor}")
    return x * factor


@task
def shift(y, by):
    write(f"shift:{y}:{by}")
    return y + by


@task
def total(values):
    write(f"total:{list(values)}")


@task_group
def pipeline(x, factor):
    return shift(scale(x, factor), 1)


@task_group
def echo(word, n=7):
    BashOperator(task_id="say", bash_command="echo say-" + "{{ ti.map_index }}", do_xcom_push=False)
    record = scale.override(task_id="record")(n, 1)
    return record


with DAG("mapped_group", start_date=datetime(2024, 1, 1), schedule=None):
    total(pipeline.partial(factor=10).expand(x=numbers()))                # 11 21 31
    echo.expand_kwargs([{"word": "a"}, {"word": "b", "n": 8}])
    pipeline.override(group_id="empty").partial(factor=2).expand(x=nothing())
'''


def test_dags_test_runs_a_mapped_group_per_index_and_reduces_its_output(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dags = sqlite_home / "dags"
    (dags / "mapped_group.py").write_text(MAPPED_GROUP)
    code = main(["dags", "test", "mapped_group", "2024-01-01"])
    out = capsys.readouterr().out
    assert code == 0, out
    for label in ("pipeline.scale[2]", "pipeline.shift[0]", "pipeline.shift[2]", "total", "echo.say[1]",
                  "echo.record[1]"):
        assert f"{label}: success" in out, out
    assert "pipeline.scale[3]" not in out and "echo.say[2]" not in out, out
    assert "empty.scale: skipped" in out and "empty.shift: skipped" in out and "empty.scale[0]" not in out, out
    assert sorted((dags / "group.txt").read_text().splitlines()) == sorted([
        "scale:1:10", "scale:2:10", "scale:3:10",          # each index got its own element
        "shift:10:1", "shift:20:1", "shift:30:1",          # and its own index's upstream value
        "scale:7:1", "scale:8:1",                          # expand_kwargs, with the function's default
        "total:[11, 21, 31]"])                             # the reduce saw every index, in order
