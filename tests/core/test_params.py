"""Param and ParamsDict: defaults, schema validation, merging with run conf."""
from __future__ import annotations

import pytest

from flowctl.core.errors import ParamValidationError
from flowctl.core.params import Param, ParamsDict, merge_params


def test_reading_a_params_dict_gives_plain_values() -> None:
    params = ParamsDict({"a": Param(1, type="integer"), "b": "x"})
    assert params["a"] == 1 and params["b"] == "x" and dict(params) == {"a": 1, "b": "x"}
    assert params.get_param("a").schema == {"type": "integer"}


def test_resolve_overlays_conf_and_validates_each_param() -> None:
    params = ParamsDict({"n": Param(5, type="integer", minimum=1)})
    assert params.resolve() == {"n": 5}
    assert params.resolve({"n": 7, "extra": True}) == {"n": 7, "extra": True}
    with pytest.raises(ParamValidationError, match="'n'"):
        params.resolve({"n": 0})
    with pytest.raises(ParamValidationError, match="'n'"):
        params.resolve({"n": "seven"})


def test_a_param_without_default_must_be_given() -> None:
    params = ParamsDict({"who": Param(type="string")})
    with pytest.raises(ParamValidationError, match="'who' has no value"):
        params.resolve()
    assert params.resolve({"who": "me"}) == {"who": "me"}


def test_a_param_without_default_still_has_no_value_once_merged_or_copied() -> None:
    import copy
    import pickle

    from flowctl.core.params import NOTSET

    assert copy.copy(NOTSET) is NOTSET and copy.deepcopy(NOTSET) is NOTSET and pickle.loads(pickle.dumps(NOTSET)) is NOTSET
    for param in (Param(description="no default, no schema"), Param(type="string")):
        merged = merge_params(ParamsDict({"who": param}), None)  # what a task's params go through
        assert not merged.get_param("who").has_value
        with pytest.raises(ParamValidationError, match="'who' has no value and no default"):
            merged.resolve()
        assert merged.resolve({"who": "me"}) == {"who": "me"}


def test_enum_and_format_keywords_are_checked() -> None:
    params = ParamsDict({"env": Param("dev", enum=["dev", "prod"])})
    with pytest.raises(ParamValidationError, match="'env'"):
        params.resolve({"env": "qa"})


@pytest.mark.parametrize("value", ["tomorrow", "2024-13-01T00:00:00Z", "2024-02-30T10:00:00+00:00",
                                   "2024-01-01T25:00:00Z", "2024-01-01"])
def test_a_date_time_param_refuses_what_is_not_an_rfc_3339_date_time_as_airflow(value: str) -> None:
    params = ParamsDict({"at": Param("2024-01-01T00:00:00+00:00", type="string", format="date-time")})
    with pytest.raises(ParamValidationError, match="'at' is invalid: .* is not a 'date-time'"):
        params.resolve({"at": value})


@pytest.mark.parametrize("value", ["2024-01-01T12:00:00+00:00", "2024-01-01T12:00:00Z", "2024-02-29t23:59:59.123-05:30"])
def test_a_date_time_param_takes_rfc_3339_date_times(value: str) -> None:
    params = ParamsDict({"at": Param("2024-01-01T00:00:00+00:00", type="string", format="date-time")})
    assert params.resolve({"at": value}) == {"at": value}


def test_later_layers_win_when_merging() -> None:
    merged = merge_params({"a": Param(1, type="integer"), "b": 2}, {"b": 3}, ParamsDict({"c": Param("x")}))
    assert dict(merged) == {"a": 1, "b": 3, "c": "x"}
    assert merged.get_param("a").schema == {"type": "integer"}


def test_merging_does_not_change_the_originals() -> None:
    base = ParamsDict({"a": 1})
    base.merged({"a": 2})
    assert base["a"] == 1


def test_params_round_trip_through_their_json_form() -> None:
    params = ParamsDict({"n": Param(3, description="how many", type="integer")})
    loaded = ParamsDict.load(params.dump())
    assert loaded["n"] == 3 and loaded.get_param("n").description == "how many"
    assert loaded.get_param("n").schema == {"type": "integer"}


def test_a_param_without_default_stays_required_after_a_round_trip() -> None:
    loaded = ParamsDict.load(ParamsDict({"who": Param()}).dump())
    with pytest.raises(ParamValidationError, match="no value"):
        loaded.resolve()
