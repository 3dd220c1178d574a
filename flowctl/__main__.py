"""``python -m flowctl``: the same as the ``flowctl`` console script."""
from __future__ import annotations

from flowctl.cli import main

main()
