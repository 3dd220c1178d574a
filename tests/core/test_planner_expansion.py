"""How many instances a mapped task over map(), zip() or concat() gets, counted from the serialized
mapping spec and the upstream XCom values alone: no map callable exists there to call."""
from __future__ import annotations

from typing import Any

import pytest

from flowctl.core.errors import MapInputMissing
from flowctl.core.planner import map_length, xcom_refs

NUMBERS, WORDS, SETTINGS = ("numbers", "return_value"), ("words", "return_value"), ("settings", "return_value")
XCOMS = {NUMBERS: [1, 2, 3], WORDS: ["a", "b"], SETTINGS: {"x": 1, "y": 2, "z": 3, "w": 4}}


def ref(task_id: str) -> dict[str, Any]:
    return {"__type": "xcomarg", "__var": {"task_id": task_id, "key": "return_value"}}


def mapped(arg: dict[str, Any], *callables: str) -> dict[str, Any]:
    return {"__type": "xcomarg_map", "__var": {"arg": arg, "callables": list(callables) or ["dags.f"]}}


def zipped(*args: dict[str, Any], **fill: Any) -> dict[str, Any]:
    return {"__type": "xcomarg_zip", "__var": {"args": list(args), **fill}}


def joined(*args: dict[str, Any]) -> dict[str, Any]:
    return {"__type": "xcomarg_concat", "__var": {"args": list(args)}}


def spec(value: Any, **more: Any) -> dict[str, Any]:
    return {"expand": {"x": value, **more}, "expand_kind": "expand"}


def test_a_map_is_as_long_as_what_it_maps_and_a_chain_of_maps_too() -> None:
    assert map_length(spec(mapped(ref("numbers"))), XCOMS) == 3
    assert map_length(spec(mapped(ref("numbers"), "dags.f", "dags.g")), XCOMS) == 3
    assert map_length(spec(mapped(mapped(ref("words")))), XCOMS) == 2


def test_a_map_over_a_dict_has_one_instance_per_item() -> None:
    assert map_length(spec(mapped(ref("settings"))), XCOMS) == 4


def test_a_zip_is_as_long_as_its_shortest_input_or_its_longest_with_a_fillvalue() -> None:
    assert map_length(spec(zipped(ref("numbers"), ref("words"))), XCOMS) == 2
    assert map_length(spec(zipped(ref("numbers"), ref("words"), ref("settings"))), XCOMS) == 2
    assert map_length(spec(zipped(ref("numbers"), ref("settings"), fillvalue=0)), XCOMS) == 4
    assert map_length(spec(zipped(ref("words"), ref("numbers"), fillvalue=None)), XCOMS) == 3  # None is a fillvalue
    assert map_length(spec(zipped(ref("words"))), XCOMS) == 2


def test_a_concat_is_as_long_as_its_inputs_together() -> None:
    assert map_length(spec(joined(ref("numbers"), ref("words"), ref("settings"))), XCOMS) == 9
    assert map_length(spec(joined(ref("numbers"), ref("numbers"))), XCOMS) == 6


def test_forms_nest_and_combine_with_literal_lists_in_the_cartesian_product() -> None:
    nested = mapped(zipped(mapped(ref("numbers")), joined(ref("words"), ref("words"))))
    assert map_length(spec(nested), XCOMS) == 3  # min(3, 2 + 2)
    assert map_length(spec(joined(ref("words")), y=[10, 20, 30]), XCOMS) == 6


def test_expand_kwargs_over_a_map_has_one_instance_per_element() -> None:
    assert map_length({"expand": mapped(ref("numbers")), "expand_kind": "expand_kwargs"}, XCOMS) == 3
    assert map_length({"expand": joined(ref("numbers"), ref("words")), "expand_kind": "expand_kwargs"}, XCOMS) == 5


def test_an_empty_upstream_value_makes_no_instance() -> None:
    empty = {NUMBERS: [], WORDS: ["a"]}
    assert map_length(spec(mapped(ref("numbers"))), empty) == 0
    assert map_length(spec(zipped(ref("numbers"), ref("words"))), empty) == 0
    assert map_length(spec(zipped(ref("numbers"), ref("words"), fillvalue=0)), empty) == 1


def test_an_upstream_value_never_pushed_is_a_missing_input_wherever_it_sits() -> None:
    """Airflow's NotFullyPopulated: the mapped task cannot expand (it ends upstream_failed), even in a
    zip with a fillvalue or a concat whose other inputs came."""
    for value in (mapped(ref("numbers")), zipped(ref("numbers"), ref("words"), fillvalue=0),
                  joined(ref("numbers"), ref("words"))):
        with pytest.raises(MapInputMissing, match="'numbers' pushed no XCom 'return_value'"):
            map_length(spec(value), {WORDS: ["a"]})
        with pytest.raises(MapInputMissing):
            map_length(spec(value), {NUMBERS: None, WORDS: ["a"]})


def test_a_value_that_cannot_be_mapped_over_is_an_error_wherever_it_sits() -> None:
    for value in (mapped(ref("numbers")), zipped(ref("words"), ref("numbers")), joined(ref("numbers"))):
        with pytest.raises(ValueError, match="cannot map over a value of type int"):
            map_length(spec(value), {**XCOMS, NUMBERS: 5})


def test_the_references_are_every_plain_xcom_inside_each_once_in_order() -> None:
    nested = joined(mapped(ref("settings")), zipped(ref("numbers"), mapped(ref("settings"))), ref("words"))
    assert xcom_refs(spec(nested, y=[1], z=ref("other"))) == [SETTINGS, NUMBERS, WORDS, ("other", "return_value")]
    assert xcom_refs({"expand": mapped(ref("numbers")), "expand_kind": "expand_kwargs"}) == [NUMBERS]
