"""``flowctl dags test`` over Airflow's repeated mapping: a mapped task over a mapped task's output,
``expand_kwargs`` over one, a reduce, and XCom values that reach templated arguments unrendered;
and over ``XComArg.map()``, ``.zip()`` and ``.concat()``."""
from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.cli import main

REPEATED = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.decorators import task

OUT = Path(__file__).with_name("mapping.txt")


def write(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")


@task
def add_one(x):
    return x + 1


@task
def odd_only(x):
    if x == 4:
        raise ValueError("four fails on purpose")
    return x if x % 2 else None


@task
def as_kwargs(x):
    return {"x": x, "note": "{{ ds }}"}


@task
def record(x, note):
    write(f"kwargs:{x}:{note}")


@task
def total(values):
    write(f"total:{sum(values)}")


with DAG("repeated_mapping", start_date=datetime(2024, 1, 1), schedule=None):
    first = add_one.expand(x=[1, 2, 3, 4])                                   # 2 3 4 5
    second = add_one.expand(x=first)                                         # 3 4 5 6
    total(second)                                                            # 18
    odd = odd_only.expand(x=second)                                          # 3, failed, 5, None
    record.override(trigger_rule="all_done").expand_kwargs(as_kwargs.override(trigger_rule="all_done").expand(x=odd))
'''


def test_dags_test_runs_repeated_mapping_expand_kwargs_and_a_reduce(sqlite_home: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dags = sqlite_home / "dags"
    (dags / "repeated.py").write_text(REPEATED)
    code = main(["dags", "test", "repeated_mapping", "2024-01-01"])
    out = capsys.readouterr().out
    assert code == 0, out  # odd_only[1] failed on purpose; the leaves succeeded
    for label in ("add_one[3]", "add_one__1[3]", "total", "odd_only[3]", "as_kwargs[1]", "record[1]"):
        assert f"{label}: success" in out, out
    assert "odd_only[1]: failed" in out and "as_kwargs[2]" not in out and "record[2]" not in out
    assert sorted((dags / "mapping.txt").read_text().splitlines()) == [
        "kwargs:3:{{ ds }}", "kwargs:5:{{ ds }}", "total:18"]  # the note came from XCom: not rendered


TRANSFORMS = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.decorators import task

OUT = Path(__file__).with_name("transforms.txt")


def write(text):
    with OUT.open("a") as f:
        f.write(text + "\\n")


def shout(word):
    write(f"called:{word}")
    return word.upper()


@task
def words():
    return ["a", "b", "c"]


@task
def settings():
    return {"x": 1, "y": 2}


@task
def nothing():
    return []


@task
def receive(value, label):
    write(f"{label}:{value}")


with DAG("transforms", start_date=datetime(2024, 1, 1), schedule=None):
    w, s = words(), settings()
    receive.partial(label="map").expand(value=w.map(shout).map(lambda x: x + "!"))
    receive.partial(label="zip").expand(value=w.zip(s, fillvalue=None))
    receive.partial(label="concat").expand(value=s.concat(w))
    receive.override(task_id="empty").partial(label="empty").expand(value=nothing().map(shout))
'''


def test_dags_test_runs_map_zip_and_concat_giving_each_instance_its_element(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dags = sqlite_home / "dags"
    (dags / "transforms.py").write_text(TRANSFORMS)
    code = main(["dags", "test", "transforms", "2024-01-01"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "empty: skipped" in out and "empty[0]" not in out, out
    assert sorted((dags / "transforms.txt").read_text().splitlines()) == sorted([
        "called:a", "called:b", "called:c", "map:A!", "map:B!", "map:C!",
        "zip:('a', ('x', 1))", "zip:('b', ('y', 2))", "zip:('c', None)",
        "concat:('x', 1)", "concat:('y', 2)", "concat:a", "concat:b", "concat:c"])


NONE_OR_EMPTY = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task


@task
def none():
    return None


@task
def empty():
    return []


@task
def use(x):
    return x


with DAG("none_or_empty", start_date=datetime(2024, 1, 1), schedule=None):
    use.override(task_id="use_none").expand(x=none())
    use.override(task_id="use_empty").expand(x=empty())
    use.override(task_id="use_all_done", trigger_rule="all_done").expand(x=none())
'''


def test_dags_test_fails_a_task_returning_none_to_a_mapped_task_and_skips_one_over_an_empty_list(
        sqlite_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sqlite_home / "dags" / "none_or_empty.py").write_text(NONE_OR_EMPTY)
    code = main(["dags", "test", "none_or_empty", "2024-01-01"])
    out = capsys.readouterr().out
    assert code != 0, out  # the run failed: use_none is upstream_failed
    for line in ("none: failed", "use_none: upstream_failed", "empty: success", "use_empty: skipped",
                 "use_all_done: upstream_failed"):  # it may run after a failure, but its list never came
        assert line in out, out
    assert "XComForMappingNotPushed" in out, out
