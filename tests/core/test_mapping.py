"""Dynamic task mapping declarations: partial/expand, expand_kwargs, unmap."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.errors import (
    DagDefinitionError, FlowctlError, NotSupportedError, UnmappableXComLengthPushed, UnmappableXComTypePushed,
    XComForMappingNotPushed,
)
from flowctl.core.mapping import DEFAULT_MAX_MAP_LENGTH, MappedOperator, check_mappable_return, mapped_ti_count
from flowctl.core.xcom_arg import XComArg
from flowctl.decorators import task


class Echo(BaseOperator):
    def __init__(self, *, word: str = "", times: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.word, self.times = word, times

    def execute(self, context: Mapping[str, Any]) -> str:
        return self.word * self.times


def test_expand_declares_one_mapped_task_with_the_operators_identity() -> None:
    with DAG("d", default_args={"retries": 2}) as dag:
        mapped = Echo.partial(task_id="echo", times=2).expand(word=["a", "b"])
    assert isinstance(mapped, MappedOperator) and dag.get_task("echo") is mapped
    assert mapped.is_mapped and mapped.task_type == "Echo" and mapped.operator_module == __name__
    assert mapped.retries == 2 and mapped.partial_kwargs == {"times": 2}


def test_expansion_is_the_cartesian_product_with_the_last_argument_fastest() -> None:
    with DAG("d"):
        mapped = Echo.partial(task_id="echo").expand(word=["a", "b"], times=[1, 2])
    assert mapped.expansion(lambda ref: None) == [
        {"word": "a", "times": 1}, {"word": "a", "times": 2},
        {"word": "b", "times": 1}, {"word": "b", "times": 2},
    ]


def test_an_xcom_arg_input_wires_the_dependency_and_is_resolved_by_the_caller() -> None:
    with DAG("d"):
        source = Echo(task_id="source")
        mapped = Echo.partial(task_id="echo").expand(word=source.output)
    assert mapped.upstream_task_ids == {"source"}
    values = {XComArg(source): ["x", "y", "z"]}
    assert mapped.expansion(values.__getitem__) == [{"word": "x"}, {"word": "y"}, {"word": "z"}]


def test_a_dict_input_maps_over_its_items() -> None:
    with DAG("d"):
        mapped = Echo.partial(task_id="echo").expand(word={"k": "v"})
    assert mapped.expansion(lambda ref: None) == [{"word": ("k", "v")}]


def test_expand_kwargs_maps_over_a_list_of_dicts() -> None:
    with DAG("d"):
        mapped = Echo.partial(task_id="echo").expand_kwargs([{"word": "a"}, {"word": "b", "times": 3}])
    assert [m["word"] for m in mapped.expansion(lambda ref: None)] == ["a", "b"]


def test_unmap_builds_the_concrete_operator_for_one_index() -> None:
    with DAG("d") as dag:
        start = Echo(task_id="start")
        mapped = Echo.partial(task_id="echo", times=3).expand(word=["a", "b"])
        start >> mapped
    concrete = mapped.unmap({"word": "b"})
    assert type(concrete) is Echo and concrete.task_id == "echo" and concrete.dag is dag
    assert concrete.execute({}) == "bbb" and concrete.upstream_task_ids == {"start"}
    assert dag.get_task("echo") is mapped


def test_mapping_over_unknown_or_duplicated_arguments_is_an_error() -> None:
    with DAG("d"):
        with pytest.raises(DagDefinitionError, match="cannot map over"):
            Echo.partial(task_id="a").expand(colour=["red"])
        with pytest.raises(DagDefinitionError, match="both partial"):
            Echo.partial(task_id="b", word="x").expand(word=["y"])
        with pytest.raises(DagDefinitionError, match="cannot map over a string"):
            Echo.partial(task_id="c").expand(word="abc").expansion(lambda ref: None)


def test_an_unknown_argument_to_partial_is_an_error_naming_it_and_the_operator() -> None:
    with DAG("d") as dag:
        with pytest.raises(DagDefinitionError,
                           match=r"invalid arguments were passed to Echo\.partial\(\) \(task_id: a\): bogus_kw, colour"):
            Echo.partial(task_id="a", bogus_kw=1, colour="red")
    assert not dag.has_task("a")


def test_an_argument_given_to_both_partial_and_expand_is_an_error_naming_it_and_the_operator() -> None:
    with DAG("d"):
        with pytest.raises(DagDefinitionError,
                           match=r"both partial\(\) and expand\(\) of Echo \(task_id: b\): word"):
            Echo.partial(task_id="b", word="x").expand(word=["y"])
        with pytest.raises(DagDefinitionError, match=r"of Echo \(task_id: c\): times"):
            Echo.partial(task_id="c", times=2).expand_kwargs([{"word": "y", "times": 3}])


def test_map_index_template_is_not_supported_on_a_mapped_task() -> None:
    with DAG("d"):
        with pytest.raises(NotSupportedError, match=r"map_index_template \(task_id: a\) is not supported"):
            Echo.partial(task_id="a", map_index_template="{{ task.word }}").expand(word=["x"])


def test_an_unknown_task_decorator_argument_is_an_error_when_the_task_is_mapped() -> None:
    @task(bogus_kw=1)
    def double(x: int) -> int:
        return 2 * x

    with DAG("d"):
        with pytest.raises(DagDefinitionError,
                           match=r"invalid arguments were passed to @task \(DecoratedPythonOperator\) "
                                 r"\(task_id: double\): bogus_kw"):
            double.expand(x=[1, 2])
        with pytest.raises(DagDefinitionError, match="bogus_kw"):
            double.partial().expand_kwargs([{"x": 1}])


def test_map_index_template_given_to_the_task_decorator_is_not_supported_when_mapped() -> None:
    @task(map_index_template="{{ name }}")
    def labelled(name: str) -> str:
        return name

    with DAG("d"):
        with pytest.raises(NotSupportedError, match="map_index_template .* is not supported by flowctl"):
            labelled.expand(name=["x", "y"])


def test_a_taskflow_argument_given_to_both_partial_and_expand_names_it_and_the_operator() -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    with DAG("d"):
        with pytest.raises(DagDefinitionError,
                           match=r"both partial\(\) and expand\(\) of DecoratedPythonOperator \(task_id: add\): x"):
            add.partial(x=1).expand(x=[2, 3])


def test_taskflow_functions_map_into_their_keyword_arguments() -> None:
    @task
    def double(x: int, offset: int = 0) -> int:
        return 2 * x + offset

    with DAG("d"):
        out = double.partial(offset=1).expand(x=[1, 2])
    mapped = out.operator
    assert mapped.task_type == "DecoratedPythonOperator"
    concrete = mapped.unmap(mapped.expansion(lambda ref: None)[1])
    assert concrete.execute({"params": {}}) == 5


def test_an_unmapped_task_whose_output_is_mapped_over_must_return_a_list_or_a_dict() -> None:
    with DAG("d"):
        source = Echo(task_id="source")
        Echo.partial(task_id="echo").expand(word=source.output)
    for value in (["a"], ("a",), {"k": "v"}, [], {}):  # an empty one maps to no instance (skipped)
        check_mappable_return(source, value)
    with pytest.raises(UnmappableXComTypePushed, match="'echo' maps over the return value of 'source'"):
        check_mappable_return(source, 3)


def test_an_unmapped_task_whose_output_is_mapped_over_must_push_a_value() -> None:
    """Airflow's XComForMappingNotPushed: None (or no push at all) fails the producer, so the
    mapped task ends upstream_failed instead of being skipped as if the input were empty."""
    with DAG("d"):
        source, other = Echo(task_id="source"), Echo(task_id="other")
        Echo.partial(task_id="echo").expand(word=source.output)
    with pytest.raises(XComForMappingNotPushed, match="'echo' maps over the return value of 'source'.*None"):
        check_mappable_return(source, None)
    check_mappable_return(other, None)  # nothing maps over it


def test_a_task_returning_more_elements_than_max_map_length_to_a_mapped_task_fails() -> None:
    """Airflow's UnmappableXComLengthPushed, with ``[core] max_map_length`` (1024 by default)."""
    @task
    def add_one(x: int) -> int:
        return x + 1

    with DAG("d"):
        source = Echo(task_id="source")
        Echo.partial(task_id="echo").expand(word=source.output)
        mapped = add_one.expand(x=[1, 2, 3])
        add_one.expand(x=mapped)
    assert DEFAULT_MAX_MAP_LENGTH == 1024
    check_mappable_return(source, list(range(1024)))
    check_mappable_return(source, ["a", "b"], max_map_length=2)
    with pytest.raises(UnmappableXComLengthPushed,
                       match=r"'echo' maps over the return value of 'source', which has 1025 elements: "
                             r"more than \[core\] max_map_length \(1024\)"):
        check_mappable_return(source, list(range(1025)))
    with pytest.raises(UnmappableXComLengthPushed, match=r"3 elements: more than \[core\] max_map_length \(2\)"):
        check_mappable_return(source, {"a": 1, "b": 2, "c": 3}, max_map_length=2)
    check_mappable_return(mapped.operator, list(range(5)), max_map_length=2)  # one element of the input


def test_each_index_of_a_mapped_task_returns_one_element_of_what_a_mapped_task_downstream_maps_over() -> None:
    """Repeated mapping, as in Airflow's docs: ``second = add_one.expand(x=first)`` where ``first``
    is itself mapped gets one instance per value ``first``'s indexes returned."""
    @task
    def add_one(x: int) -> int:
        return x + 1

    with DAG("d") as dag:
        first = add_one.expand(x=[1, 2, 3])
        second = add_one.expand(x=first)
        by_kwargs = Echo.partial(task_id="by_kwargs").expand_kwargs(first)
    mapped = first.operator
    assert dag.get_task("add_one__1") is second.operator and by_kwargs.upstream_task_ids == {"add_one"}
    concrete = mapped.unmap(mapped.expansion(lambda ref: None)[0])
    check_mappable_return(concrete, 2)  # one element, not the whole input
    check_mappable_return(mapped, 2)
    assert second.operator.expansion({first: [2, 3, 4]}.__getitem__) == [{"x": 2}, {"x": 3}, {"x": 4}]
    assert by_kwargs.expansion({first: [{"word": "a"}, {"word": "b"}]}.__getitem__) == [{"word": "a"}, {"word": "b"}]


class _TI:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.values[task_ids]


def _resolver(**values: Any) -> Any:
    context = {"ti": _TI(values)}
    return lambda ref: ref.resolve(context)


def test_kwargs_for_one_index_is_that_index_of_the_cartesian_product() -> None:
    with DAG("d"):
        source = Echo(task_id="source")
        mapped = Echo.partial(task_id="echo").expand(word=source.output, times=[1, 2, 3])
    resolve = _resolver(source={"k": "v", "l": "w"})
    assert [mapped.kwargs_for(i, resolve) for i in range(6)] == mapped.expansion(resolve)
    assert mapped.kwargs_for(4, resolve) == {"word": ("l", "w"), "times": 2}
    with pytest.raises(FlowctlError, match=r"map_index 6 of task 'echo' is out of range \(its input has 6 element"):
        mapped.kwargs_for(6, resolve)


def test_kwargs_for_one_index_calls_the_map_callable_for_that_indexs_element_alone() -> None:
    calls: list[str] = []

    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    with DAG("d"):
        source = Echo(task_id="source")
        mapped = Echo.partial(task_id="echo").expand(word=source.output.map(shout), times=[1, 2])
    resolve = _resolver(source=["a", "b", "c"])
    assert mapped.kwargs_for(3, resolve) == {"word": "B", "times": 2}
    assert calls == ["b"]
    concrete = mapped.unmap(mapped.kwargs_for(3, resolve))
    assert concrete.execute({}) == "BB" and concrete._values_from_xcom == ("B",)  # from XCom: never rendered


def test_expand_kwargs_over_a_map_gives_each_index_the_dict_its_element_became() -> None:
    with DAG("d"):
        source = Echo(task_id="source")
        mapped = Echo.partial(task_id="echo").expand_kwargs(source.output.map(lambda w: {"word": w, "times": 2}))
        broken = Echo.partial(task_id="broken").expand_kwargs(source.output.zip(source.output))
    assert mapped.upstream_task_ids == {"source"}
    resolve = _resolver(source=["a", "b"])
    assert mapped.kwargs_for(1, resolve) == {"word": "b", "times": 2}
    with pytest.raises(ValueError, match=r"expand_kwargs\(\) of 'broken' needs a list of dicts; element 0 is a tuple"):
        broken.kwargs_for(0, resolve)


@pytest.mark.parametrize("form", ["map", "zip", "concat"])
def test_a_task_whose_output_a_map_zip_or_concat_feeds_to_a_mapped_task_must_return_a_list_or_a_dict(
        form: str) -> None:
    with DAG("d"):
        source, other = Echo(task_id="source"), Echo(task_id="other")
        derived = {"map": lambda: source.output.map(str), "zip": lambda: other.output.zip(source.output),
                   "concat": lambda: other.output.concat(source.output)}[form]()
        Echo.partial(task_id="echo").expand(word=derived)
    check_mappable_return(source, ["a"])
    with pytest.raises(UnmappableXComTypePushed, match="'echo' maps over the return value of 'source'"):
        check_mappable_return(source, 3)


def test_the_instance_count_of_a_mapped_task_is_its_inputs_length_read_without_calling_map_callables() -> None:
    """Airflow's ``expanded_ti_count`` context key; None for a task that is not mapped."""
    def shout(word: str) -> str:
        raise AssertionError("a map() callable must not run to count instances")

    with DAG("d"):
        source, other = Echo(task_id="source"), Echo(task_id="other")
        product = Echo.partial(task_id="product").expand(word=source.output, times=[1, 2, 3])
        mapped = Echo.partial(task_id="mapped").expand(word=source.output.map(shout))
        zipped = Echo.partial(task_id="zipped").expand(word=source.output.zip(other.output))
        longest = Echo.partial(task_id="longest").expand(word=source.output.zip(other.output, fillvalue=None))
        joined = Echo.partial(task_id="joined").expand(word=source.output.concat(other.output))
        kwargs = Echo.partial(task_id="kwargs").expand_kwargs([{"word": "a"}, {"word": "b"}])
    resolve = _resolver(source=["a", "b"], other={"k": "v", "l": "w", "m": "x"})
    assert mapped_ti_count(source, resolve) is None
    counts = {op.task_id: mapped_ti_count(op, resolve) for op in (product, mapped, zipped, longest, joined, kwargs)}
    assert counts == {"product": 6, "mapped": 2, "zipped": 2, "longest": 3, "joined": 5, "kwargs": 2}
