"""XComArg.map(), .zip() and .concat() (Airflow 2.4+ / 2.6+): declaring them, and the values they
resolve to when a task runs, computed element by element (a map callable runs only for what is read)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import AirflowException, DagDefinitionError, MapCallableError, TaskSkipped, XComNotFound
from flowctl.core.xcom_arg import ConcatXComArg, MapXComArg, PlainXComArg, XComArg, ZipXComArg
from flowctl.decorators import task
from flowctl.operators.empty import EmptyOperator

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeTI:
    """What XComArg.resolve needs of a task instance: xcom_pull by task id."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        assert key == "return_value"
        return self.values[task_ids]


def context(**values: Any) -> dict[str, Any]:
    return {"ti": FakeTI(values)}


class Recorder:
    """A map callable that remembers every element it was called with."""

    def __init__(self, function: Any = lambda x: x) -> None:
        self.calls: list[Any] = []
        self.function = function
        self.__name__ = "recorder"

    def __call__(self, value: Any) -> Any:
        self.calls.append(value)
        return self.function(value)


def sources(*task_ids: str) -> tuple[DAG, list[XComArg]]:
    with DAG("d", start_date=T0, schedule=None) as dag:
        outputs = [EmptyOperator(task_id=task_id).output for task_id in task_ids]
    return dag, outputs


def test_map_zip_and_concat_give_xcomargs_whose_tasks_become_upstream_of_a_mapped_task() -> None:
    @task
    def show(value: Any) -> None:
        print(value)

    with DAG("d", start_date=T0, schedule=None) as dag:
        a, b, c = (EmptyOperator(task_id=t).output for t in "abc")
        mapped = a.map(str)
        zipped = a.zip(b)
        joined = b.concat(c)
        show.expand(value=mapped)
        show.expand(value=zipped)
        show.expand(value=joined)
    assert isinstance(a, PlainXComArg) and type(XComArg(dag.get_task("a"))) is PlainXComArg
    assert isinstance(mapped, MapXComArg) and isinstance(zipped, ZipXComArg) and isinstance(joined, ConcatXComArg)
    assert all(isinstance(x, XComArg) for x in (mapped, zipped, joined))  # as in Airflow
    assert dag.get_task("show").upstream_task_ids == {"a"}
    assert dag.get_task("show__1").upstream_task_ids == {"a", "b"}
    assert dag.get_task("show__2").upstream_task_ids == {"b", "c"}


def test_a_derived_xcomarg_sets_dependencies_with_its_tasks_in_shifts() -> None:
    dag, (a, b) = sources("a", "b")
    with dag:
        after = EmptyOperator(task_id="after")
    a.zip(b) >> after
    assert after.upstream_task_ids == {"a", "b"}


def test_chained_map_is_one_map_over_the_first_value_and_chained_concat_one_concat() -> None:
    _, (a, b, c) = sources("a", "b", "c")
    twice = a.map(str).map(len)
    assert isinstance(twice, MapXComArg) and twice.arg is a and twice.callables == (str, len)
    joined = a.concat(b).concat(c)
    assert isinstance(joined, ConcatXComArg) and joined.args == (a, b, c)


def test_the_map_callable_runs_only_for_the_elements_read_and_never_at_definition() -> None:
    _, (a,) = sources("a")
    double = Recorder(lambda x: 2 * x)
    mapped = a.map(double)
    assert double.calls == []
    values = mapped.resolve(context(a=[1, 2, 3]))
    assert len(values) == 3 and double.calls == []
    assert values[2] == 6 and double.calls == [3]
    assert values[-3] == 2 and list(values) == [2, 4, 6]


def test_chained_maps_apply_their_callables_in_order() -> None:
    _, (a,) = sources("a")
    assert list(a.map(lambda x: x + 1).map(lambda x: x * 10).resolve(context(a=[1, 2]))) == [20, 30]


def test_map_over_a_dict_gets_its_key_value_items_as_expand_does() -> None:
    _, (a,) = sources("a")
    assert list(a.map(lambda kv: f"{kv[0]}={kv[1]}").resolve(context(a={"x": 1, "y": 2}))) == ["x=1", "y=2"]


def test_zip_is_as_long_as_the_shortest_input_or_the_longest_with_a_fillvalue() -> None:
    _, (a, b, c) = sources("a", "b", "c")
    values = context(a=[1, 2, 3], b=["x", "y"], c={"k": "v"})
    assert list(a.zip(b).resolve(values)) == [(1, "x"), (2, "y")]
    assert list(a.zip(b, c).resolve(values)) == [(1, "x", ("k", "v"))]
    assert list(a.zip(b, fillvalue=None).resolve(values)) == [(1, "x"), (2, "y"), (3, None)]
    assert list(b.zip(a, fillvalue=0).resolve(values)) == [("x", 1), ("y", 2), (0, 3)]
    assert list(a.zip().resolve(values)) == [(1,), (2,), (3,)]


def test_concat_takes_each_element_from_the_input_it_falls_in() -> None:
    _, (a, b, c) = sources("a", "b", "c")
    joined = a.concat(b, c).resolve(context(a=[1, 2], b=[], c={"k": "v"}))
    assert len(joined) == 3 and joined[0] == 1 and joined[1] == 2 and joined[2] == ("k", "v")
    assert joined[-1] == ("k", "v")
    with pytest.raises(IndexError):
        joined[3]


def test_forms_nest_and_only_the_element_read_goes_through_the_map_callable() -> None:
    _, (a, b) = sources("a", "b")
    upper = Recorder(str.upper)
    nested = a.map(upper).zip(b.concat(a)).map(lambda pair: "".join(map(str, pair)))
    values = nested.resolve(context(a=["p", "q"], b=[7]))
    assert len(values) == 2 and upper.calls == []
    assert values[1] == "Qp" and upper.calls == ["q"]


def test_an_upstream_that_returned_none_is_empty_and_a_scalar_is_refused_naming_the_method() -> None:
    _, (a, b) = sources("a", "b")
    assert list(a.concat(b).resolve(context(a=None, b=[1]))) == [1]
    with pytest.raises(ValueError, match=r"XComArg\.zip\(\) needs a list or a dict, not int"):
        a.zip(b).resolve(context(a=5, b=[1]))
    with pytest.raises(ValueError, match=r"XComArg\.map\(\) needs a list or a dict, not str"):
        a.map(len).resolve(context(a="abc"))


def test_an_error_in_the_map_callable_names_the_callable_the_element_and_the_cause() -> None:
    _, (a,) = sources("a")

    def parse(text: str) -> int:
        return int(text)

    values = a.map(parse).resolve(context(a=["1", "x"]))
    assert values[0] == 1
    with pytest.raises(MapCallableError, match=r"XComArg\('a', key='return_value'\)\.map\(parse\) failed on "
                                               r"element 1: ValueError: invalid literal") as caught:
        values[1]
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_skip_raised_in_the_map_callable_reaches_the_task_as_it_is() -> None:
    _, (a,) = sources("a")

    def only_json(name: str) -> str:
        if not name.endswith(".json"):
            raise TaskSkipped(f"skipping {name!r}")
        return name

    values = a.map(only_json).resolve(context(a=["a.json", "b.txt"]))
    assert values[0] == "a.json"
    with pytest.raises(TaskSkipped, match="skipping 'b.txt'"):
        values[1]


@pytest.mark.parametrize("not_callable", [5, "str", None])
def test_map_needs_a_callable(not_callable: Any) -> None:
    _, (a,) = sources("a")
    with pytest.raises(TypeError, match=r"XComArg\.map\(\) needs a callable of one argument, not "):
        a.map(not_callable)
    with pytest.raises(TypeError, match=r"XComArg\.map\(\) needs a callable"):
        a.map(str).map(not_callable)


def test_map_refuses_a_task_function_as_airflow_does() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    _, (a,) = sources("a")
    with pytest.raises(DagDefinitionError, match=r"XComArg\.map\(\) needs a plain function, not the @task 'double'"):
        a.map(double)


@pytest.mark.parametrize("method", ["zip", "concat"])
@pytest.mark.parametrize("other", [[1, 2], {"k": "v"}, "text"])
def test_zip_and_concat_combine_xcomargs_only_and_say_how_to_bring_in_literal_values(method: str,
                                                                                       other: Any) -> None:
    _, (a,) = sources("a")
    with pytest.raises(TypeError, match=rf"XComArg\.{method}\(\) combines task outputs \(XComArgs\), not "
                                        rf"{type(other).__name__}: .*return the values from a task"):
        getattr(a, method)(other)


@pytest.mark.parametrize("method", ["map", "zip", "concat"])
def test_map_zip_and_concat_work_on_a_return_value_only(method: str) -> None:
    _, (a, b) = sources("a", "b")
    with pytest.raises(DagDefinitionError, match=rf"XComArg\.{method}\(\) works on a task's return value, "
                                                 rf"not on its XCom 'other' \(task 'a'\)"):
        getattr(a["other"], method)(str if method == "map" else b)


def test_a_derived_xcomarg_is_not_iterable_at_definition_time() -> None:
    _, (a, b) = sources("a", "b")
    with pytest.raises(TypeError, match="not iterable at DAG definition time"):
        list(a.zip(b))


def test_reprs_show_the_chain() -> None:
    _, (a, b) = sources("a", "b")
    assert repr(a.map(len).map(str)) == "XComArg('a', key='return_value').map(len).map(str)"
    assert repr(a.zip(b, fillvalue=0)) == ("XComArg('a', key='return_value').zip("
                                           "XComArg('b', key='return_value'), fillvalue=0)")
    assert repr(a.concat(b)) == "XComArg('a', key='return_value').concat(XComArg('b', key='return_value'))"


@pytest.mark.parametrize("form", [ZipXComArg, ConcatXComArg])
def test_a_zip_or_concat_built_directly_needs_an_input(form: Any) -> None:
    with pytest.raises(DagDefinitionError, match=r"needs at least one input"):
        form([])


class KeyedTI:
    """A task instance holding XComs by (task id, key); ``default`` is what a missing one gives."""

    def __init__(self, values: Mapping[tuple[str, str], Any]) -> None:
        self.values = values

    def xcom_pull(self, task_ids: str, key: str = "return_value", default: Any = None, **_: Any) -> Any:
        return self.values.get((task_ids, key), default)


def test_indexing_a_result_without_multiple_outputs_fails_naming_the_task_the_key_and_the_fix() -> None:
    @task
    def plain():  # type: ignore[no-untyped-def]  # a dict annotation would set multiple_outputs
        return {"x": 1}

    with DAG("d", start_date=T0, schedule=None):
        arg = plain()["x"]
    with pytest.raises(XComNotFound) as caught:
        arg.resolve({"ti": KeyedTI({("plain", "return_value"): {"x": 1}})})
    message = str(caught.value)
    assert "'plain'" in message and "'x'" in message and "multiple_outputs=True" in message
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, AirflowException)


def test_a_key_the_task_pushed_itself_resolves_to_its_value_without_multiple_outputs() -> None:
    _, (a,) = sources("a")
    ti = KeyedTI({("a", "path"): "/tmp/x.csv", ("a", "n"): None})
    assert a["path"].resolve({"ti": ti}) == "/tmp/x.csv"
    assert a["n"].resolve({"ti": ti}) is None  # pushed, and None


def test_a_missing_return_value_or_key_of_a_multiple_outputs_task_resolves_to_none_as_in_airflow() -> None:
    @task(multiple_outputs=True)
    def several() -> dict[str, int]:
        return {"x": 1}

    with DAG("d", start_date=T0, schedule=None):
        out = several()
    _, (a,) = sources("a")
    assert out["y"].resolve({"ti": KeyedTI({})}) is None
    assert a.resolve({"ti": KeyedTI({})}) is None
