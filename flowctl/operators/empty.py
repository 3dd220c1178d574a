"""EmptyOperator: a task that does nothing (the scheduler may finish it without a worker).

Must not import anything outside flowctl.core.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flowctl.core.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing; useful to group or join dependencies."""

    ui_color: ClassVar[str] = "#e8f7e4"
    inherits_from_empty_operator: ClassVar[bool] = True

    def execute(self, context: Mapping[str, Any]) -> None:
        return None
