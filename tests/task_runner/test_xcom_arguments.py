"""Task arguments that come from XCom, through real tries: repeated mapping (a mapped task over
a mapped task's output) and XCom values that are data, never rendered as templates."""
from __future__ import annotations

from typing import Any

from flowctl.core.keys import RunKey
from flowctl.task_runner import run_workload

from tests.task_runner.conftest import World

REPEATED = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task

@task
def add_one(x):
    return x + 1

@task
def odd_only(x):
    return x if x % 2 else None

@task
def as_kwargs(x):
    return {"x": x, "note": "{{ ds }}"}

@task
def record(x, note):
    return f"{x} {note}"

@task
def total(values):
    return sum(values)

with DAG("repeated", start_date=datetime(2024, 1, 1), schedule=None):
    first = add_one.expand(x=[1, 2, 3])
    second = add_one.expand(x=first)
    total(second)
    odd = odd_only.expand(x=second)
    record.expand_kwargs(as_kwargs.expand(x=odd))
'''


def _run_all(world: World, run: Any, fileloc: str, task_id: str, length: int) -> list[Any]:
    """Expand ``task_id`` to ``length`` indexes (the scheduler's part) and run each; their results."""
    world.expand(run, task_id, length)
    results = [run_workload(world.queue(run, task_id, fileloc, map_index=i), world.settings, world.store)
               for i in range(length)]
    assert [r.state for r in results] == ["success"] * length, [r.error for r in results]
    return [r.return_value for r in results]


def test_a_mapped_task_maps_over_a_mapped_tasks_values_and_a_reduce_sums_them(world: World) -> None:
    fileloc = world.write_dags("repeated", REPEATED)
    run = world.make_run("repeated")
    assert _run_all(world, run, fileloc, "add_one", 3) == [2, 3, 4]
    assert world.store.xcom_pull_mapped(RunKey("repeated", run.run_id), "add_one") == [2, 3, 4]
    assert _run_all(world, run, fileloc, "add_one__1", 3) == [3, 4, 5]
    total = run_workload(world.queue(run, "total", fileloc), world.settings, world.store)
    assert total.state == "success" and total.return_value == 12


def test_a_none_return_leaves_its_index_out_and_expand_kwargs_maps_over_a_mapped_task(world: World) -> None:
    fileloc = world.write_dags("repeated", REPEATED)
    run = world.make_run("repeated")
    _run_all(world, run, fileloc, "add_one", 3)
    _run_all(world, run, fileloc, "add_one__1", 3)
    assert _run_all(world, run, fileloc, "odd_only", 3) == [3, None, 5]
    assert world.store.xcom_pull_mapped(RunKey("repeated", run.run_id), "odd_only") == [3, 5]
    assert _run_all(world, run, fileloc, "as_kwargs", 2) == [{"x": 3, "note": "{{ ds }}"}, {"x": 5, "note": "{{ ds }}"}]
    # the kwargs came from XCom: "{{ ds }}" is data, not a template
    assert _run_all(world, run, fileloc, "record", 2) == ["3 {{ ds }}", "5 {{ ds }}"]


RAW = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task
from flowctl.operators.bash import BashOperator

@task
def text():
    return "price {{ ds }}"

@task
def bad_text():
    return "{% oops"

@task
def texts():
    return ["echo RAW 'price {{ ds }}'", "echo RAW '{% oops'"]

@task
def show(label, v):
    return f"{label}: {v}"

with DAG("raw", start_date=datetime(2024, 1, 1), schedule=None):
    show("plain {{ ds }}", text())
    show.override(task_id="show_bad")("bad", bad_text())
    show.override(task_id="show_each").partial(label="{{ ds }}").expand(v=texts())
    BashOperator(task_id="bash_env", bash_command='echo "RAW $V $DAY"', env={"V": text(), "DAY": "{{ ds }}"})
    BashOperator.partial(task_id="bash_each").expand(bash_command=texts())
'''


def test_xcom_values_reach_template_fields_unrendered_in_every_form(world: World) -> None:
    fileloc = world.write_dags("raw", RAW)
    run = world.make_run("raw")

    def run_task(task_id: str, map_index: int = -1) -> Any:
        result = run_workload(world.queue(run, task_id, fileloc, map_index), world.settings, world.store)
        assert result.state == "success", result.error
        return result.return_value

    for task_id in ("text", "text__1", "bad_text", "texts", "texts__1"):  # each call is a task
        run_task(task_id)
    assert run_task("show") == "plain 2024-01-01: price {{ ds }}"
    assert run_task("show_bad") == "bad: {% oops"
    assert run_task("bash_env") == "RAW price {{ ds }} 2024-01-01"
    world.expand(run, "show_each", 2)
    world.expand(run, "bash_each", 2)
    assert [run_task("show_each", i) for i in range(2)] == [
        "2024-01-01: echo RAW 'price {{ ds }}'", "2024-01-01: echo RAW '{% oops'"]
    assert [run_task("bash_each", i) for i in range(2)] == ["RAW price {{ ds }}", "RAW {% oops"]


TRANSFORMS = '''
from datetime import datetime
from pathlib import Path
from flowctl import DAG
from flowctl.decorators import task
from flowctl.exceptions import AirflowSkipException
from flowctl.operators.bash import BashOperator

CALLS = Path(__file__).with_name("calls.txt")


def shout(word):
    with CALLS.open("a") as f:
        f.write(word + "\\n")
    return word.upper()


def exclaim(word):
    return word + "!"


def only_even(n):
    if n % 2:
        raise AirflowSkipException(f"{n} is odd")
    return n


def parse(text):
    return int(text)


def as_command(item):
    key, value = item
    return f"echo {key}={value}"


@task
def words():
    return ["a", "b", "c"]

@task
def numbers():
    return [1, 2]

@task
def settings():
    return {"x": 1, "y": 2}

@task
def texts():
    return ["1", "x"]

@task
def got(value):
    return value

with DAG("transforms", start_date=datetime(2024, 1, 1), schedule=None):
    w, n, s = words(), numbers(), settings()
    got.override(task_id="mapped").expand(value=w.map(shout).map(exclaim))
    got.override(task_id="zipped").expand(value=w.zip(n, fillvalue=None))
    got.override(task_id="joined").expand(value=n.concat(s, w))
    got.override(task_id="by_kwargs").expand_kwargs(n.map(lambda x: {"value": x * 10}))
    BashOperator.partial(task_id="bash").expand(bash_command=s.map(as_command))
    got.override(task_id="evens").expand(value=n.map(only_even))
    got.override(task_id="parsed").expand(value=texts().map(parse))
'''


def _run_indexes(world: World, run: Any, fileloc: str, task_id: str, length: int) -> list[Any]:
    """Expand ``task_id`` to ``length`` indexes and run each in this process; their results."""
    world.expand(run, task_id, length)
    return [run_workload(world.queue(run, task_id, fileloc, map_index=i), world.settings, world.store)
            for i in range(length)]


def _values(world: World, run: Any, fileloc: str, task_id: str, length: int) -> list[Any]:
    results = _run_indexes(world, run, fileloc, task_id, length)
    assert [r.state for r in results] == ["success"] * length, [r.error for r in results]
    return [r.return_value for r in results]


def test_each_mapped_instance_gets_its_element_of_a_map_a_zip_or_a_concat(world: World) -> None:
    fileloc = world.write_dags("transforms", TRANSFORMS)
    calls = world.folder / "calls.txt"
    run = world.make_run("transforms")
    for producer in ("words", "numbers", "settings"):
        run_workload(world.queue(run, producer, fileloc), world.settings, world.store)
    assert not calls.exists()
    assert _values(world, run, fileloc, "mapped", 3) == ["A!", "B!", "C!"]
    assert calls.read_text().split() == ["a", "b", "c"]  # once per instance, for its own element only
    assert _values(world, run, fileloc, "zipped", 3) == [("a", 1), ("b", 2), ("c", None)]
    assert _values(world, run, fileloc, "joined", 7) == [1, 2, ("x", 1), ("y", 2), "a", "b", "c"]
    assert _values(world, run, fileloc, "by_kwargs", 2) == [10, 20]
    assert _values(world, run, fileloc, "bash", 2) == ["x=1", "y=2"]  # a classic operator over a dict's items
    assert calls.read_text().split() == ["a", "b", "c"]


def test_a_skip_in_the_map_callable_skips_that_instance_and_an_error_fails_it_saying_where(world: World) -> None:
    fileloc = world.write_dags("transforms", TRANSFORMS)
    run = world.make_run("transforms")
    for producer in ("numbers", "texts"):
        run_workload(world.queue(run, producer, fileloc), world.settings, world.store)
    odd, even = _run_indexes(world, run, fileloc, "evens", 2)
    assert (odd.state, even.state, even.return_value) == ("skipped", "success", 2)
    good, bad = _run_indexes(world, run, fileloc, "parsed", 2)
    assert (good.state, good.return_value, bad.state) == ("success", 1, "failed")
    assert "XComArg('texts', key='return_value').map(parse) failed on element 1: ValueError: invalid literal" in (
        bad.error or ""), bad.error


SCALARS = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task

@task
def a_float():
    return 10.0

@task
def a_big_int():
    return 2**70

@task
def a_tuple():
    return (1, (2, "x"), [3])

@task
def got(value):
    return value

with DAG("scalars", start_date=datetime(2024, 1, 1), schedule=None):
    got.override(task_id="got_float")(a_float())
    got.override(task_id="got_big_int")(a_big_int())
    pair = a_tuple()
    got.override(task_id="got_tuple")(pair)
    got.override(task_id="mapped_over_tuple").expand(value=pair)
'''


def test_a_downstream_task_receives_a_bare_float_or_big_int_return_value_with_its_type_and_every_digit(
        world: World) -> None:
    fileloc = world.write_dags("scalars", SCALARS)
    run = world.make_run("scalars")
    received = []
    for producer, consumer in (("a_float", "got_float"), ("a_big_int", "got_big_int")):
        assert run_workload(world.queue(run, producer, fileloc), world.settings, world.store).state == "success"
        result = run_workload(world.queue(run, consumer, fileloc), world.settings, world.store)
        assert result.state == "success", result.error
        received.append(result.return_value)
    assert [(v, type(v)) for v in received] == [(10.0, float), (2**70, int)]


def test_a_downstream_task_receives_a_returned_tuple_as_a_tuple_and_a_mapped_task_maps_over_its_items(
        world: World) -> None:
    fileloc = world.write_dags("scalars", SCALARS)
    run = world.make_run("scalars")
    assert run_workload(world.queue(run, "a_tuple", fileloc), world.settings, world.store).state == "success"
    result = run_workload(world.queue(run, "got_tuple", fileloc), world.settings, world.store)
    assert result.state == "success", result.error
    assert result.return_value == (1, (2, "x"), [3])
    assert [type(result.return_value), type(result.return_value[1]), type(result.return_value[2])] == [
        tuple, tuple, list]
    assert _values(world, run, fileloc, "mapped_over_tuple", 3) == [1, (2, "x"), [3]]


INDEXED = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task

@task
def plain():
    return {"x": 1}

@task(multiple_outputs=True)
def several():
    return {"x": 1}

@task
def explicit(ti=None):
    ti.xcom_push(key="x", value=2)
    return {"x": 3}

@task
def use(value):
    return value

with DAG("indexed", start_date=datetime(2024, 1, 1), schedule=None):
    use.override(task_id="use_plain")(plain()["x"])
    use.override(task_id="use_several")(several()["x"])
    use.override(task_id="use_explicit")(explicit()["x"])
'''


def test_indexing_a_result_without_multiple_outputs_fails_the_consumer_and_an_explicit_key_works(
        world: World) -> None:
    fileloc = world.write_dags("indexed", INDEXED)
    run = world.make_run("indexed")
    for producer in ("plain", "several", "explicit"):
        assert run_workload(world.queue(run, producer, fileloc), world.settings, world.store).state == "success"
    failed = run_workload(world.queue(run, "use_plain", fileloc), world.settings, world.store)
    assert failed.state == "failed" and failed.error is not None
    assert "XComNotFound" in failed.error and "'plain'" in failed.error and "'x'" in failed.error
    assert "multiple_outputs=True" in failed.error
    for consumer, value in (("use_several", 1), ("use_explicit", 2)):
        result = run_workload(world.queue(run, consumer, fileloc), world.settings, world.store)
        assert (result.state, result.return_value) == ("success", value), result.error
