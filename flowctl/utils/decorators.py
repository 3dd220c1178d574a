"""Airflow-compatible path ``flowctl.utils.decorators``: ``apply_defaults``, the Airflow 1 operator
decorator that Airflow 2 keeps as a deprecated no-op (default_args apply to every operator anyway)."""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def apply_defaults(func: F) -> F:
    """Deprecated no-op, as in Airflow 2: warns and returns a plain wrapper of ``func``."""
    warnings.warn("apply_defaults is deprecated (as in Airflow 2) and no longer needed: default_args apply "
                  "to every operator; remove the decorator", DeprecationWarning, stacklevel=2)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
