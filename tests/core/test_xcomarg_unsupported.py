"""XComArg methods of newer Airflow that flowctl does not support say so, and what to do instead."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import NotSupportedError
from flowctl.decorators import task

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("method", ["map", "zip", "concat"])
def test_xcomarg_map_zip_and_concat_say_they_are_not_supported_and_what_to_do(method: str) -> None:
    """The compatibility contract: where a name is not supported, the error says so and names the
    flowctl way (before: AttributeError: 'XComArg' object has no attribute 'map')."""
    with DAG("mapfn", start_date=T0, schedule=None):
        @task
        def numbers() -> list[int]:
            return [1, 2]

        arg = numbers()
        with pytest.raises(NotSupportedError, match=rf"XComArg\.{method}\(\) is not supported; .*expand"):
            getattr(arg, method)(lambda x: x)
