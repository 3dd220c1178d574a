"""flowctl.models.Variable: Airflow's Variable API over the process-wide store."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowctl.core.errors import VariableNotFound
from flowctl.db.secrets import generate_key
from flowctl.models.variable import Variable, set_variable_backend


@pytest.fixture()
def backend(sqlite_store: Any) -> Iterator[Any]:
    sqlite_store.use_fernet_key(generate_key())
    set_variable_backend(sqlite_store)
    yield sqlite_store
    set_variable_backend(None)


def test_set_then_get_returns_the_value(backend: Any) -> None:
    Variable.set("region", "eu-west-1", description="where")
    assert Variable.get("region") == "eu-west-1"
    assert backend.get_variable_record("region").description == "where"


def test_json_values_are_serialized_and_deserialized(backend: Any) -> None:
    Variable.set("cfg", {"a": [1, 2]}, serialize_json=True)
    assert Variable.get("cfg", deserialize_json=True) == {"a": [1, 2]}


def test_a_missing_variable_raises_key_error_unless_a_default_is_given(backend: Any) -> None:
    with pytest.raises(KeyError):
        Variable.get("nope")
    with pytest.raises(VariableNotFound, match="Variable nope does not exist"):
        Variable.get("nope")
    assert Variable.get("nope", default_var=None) is None
    assert Variable.get("nope", default_var={"x": 1}, deserialize_json=True) == {"x": 1}


def test_an_environment_variable_wins_over_the_database(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Variable.set("bucket", "from-db")
    monkeypatch.setenv("FLOWCTL_VAR_BUCKET", "from-env")
    assert Variable.get("bucket") == "from-env"
    monkeypatch.delenv("FLOWCTL_VAR_BUCKET")
    monkeypatch.setenv("AIRFLOW_VAR_BUCKET", "from-airflow-env")
    assert Variable.get("bucket") == "from-airflow-env"


def test_setdefault_stores_the_default_only_when_missing(backend: Any) -> None:
    assert Variable.setdefault("k", "first") == "first"
    assert Variable.setdefault("k", "second") == "first"


def test_update_needs_an_existing_variable_and_delete_counts(backend: Any) -> None:
    with pytest.raises(KeyError):
        Variable.update("k", "v")
    Variable.set("k", "v")
    Variable.update("k", "w")
    assert Variable.get("k") == "w"
    assert Variable.delete("k") == 1
    assert Variable.delete("k") == 0


def test_a_variable_with_a_sensitive_key_is_masked_in_this_process(backend: Any) -> None:
    from flowctl.core.masking import process_masker

    Variable.set("service_api_key", "k-0123456789")
    Variable.get("service_api_key")
    assert process_masker().redact_text("calling with k-0123456789") == "calling with ***"
