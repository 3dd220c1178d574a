"""What an XCom value may be: JSON text of at most ``[core] xcom_max_size`` bytes. Pure."""
from __future__ import annotations

import json
from typing import Any

from flowctl.core.errors import FlowctlError, XComTooLargeError
from flowctl.core.keys import TaskInstanceKey


def xcom_size(value: Any) -> int:
    """Bytes the value takes as JSON; FlowctlError if it is not JSON-serializable."""
    try:
        return len(json.dumps(value).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise FlowctlError(f"XCom value is not JSON-serializable: {exc}") from None


def check_xcom_value(ti: TaskInstanceKey, key: str, value: Any, max_size: int) -> None:
    """Raise what pushing this value would (not JSON, or too large); else nothing."""
    size = xcom_size(value)
    if size > max_size:
        raise XComTooLargeError(
            f"XCom {key!r} of task {ti.task_id!r} is {size} bytes, more than [core] xcom_max_size "
            f"({max_size}); keep large data in external storage (or a custom XCom backend) "
            f"and push a reference to it")
