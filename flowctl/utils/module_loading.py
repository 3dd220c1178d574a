"""Airflow-compatible path ``flowctl.utils.module_loading``: ``import_string`` and ``qualname``.

Small enough to live here rather than re-export: nothing else in flowctl needs them.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any


def import_string(dotted_path: str) -> Any:
    """The attribute (class, function…) that ``"package.module.Name"`` names; ImportError if there is none."""
    module_path, _, name = dotted_path.rpartition(".")
    if not module_path:
        raise ImportError(f"{dotted_path} doesn't look like a module path")
    module = import_module(module_path)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f'Module "{module_path}" does not define a "{name}" attribute/class') from None


def qualname(thing: Any) -> str:
    """``module.QualifiedName`` of a class, function or instance (of its class)."""
    cls = thing if isinstance(thing, type) or callable(thing) and hasattr(thing, "__qualname__") else type(thing)
    return f"{cls.__module__}.{cls.__qualname__}"
