"""A test double around a real Store that records which of its verbs were called, in order."""
from __future__ import annotations

from typing import Any


class CountingStore:
    """The real store, with a record of the verbs called (not merely looked up)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        verb = getattr(self.store, name)
        if not callable(verb):
            return verb

        def call(*args: Any, **kwargs: Any) -> Any:
            self.called.append(name)
            return verb(*args, **kwargs)
        return call
