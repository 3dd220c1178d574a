"""The container image's settings: what `docker compose up` publishes must be what flowctl serves."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from flowctl.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def _image_environment() -> dict[str, str]:
    """The Dockerfile's ENV assignments (``ENV A=1 \\`` continued over several lines)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(word.split("=", 1) for word in shlex.split(line[4:]) if "=" in word)
    return env


def test_the_image_serves_the_web_ui_on_the_port_compose_publishes_on_every_address(tmp_path: Path) -> None:
    env = _image_environment()
    settings = Settings.load(environ={**env, "FLOWCTL_HOME": str(tmp_path)})
    assert settings.get("webserver", "host") == "0.0.0.0"  # 127.0.0.1 is unreachable from outside the container
    port = int(settings.get("webserver", "port"))
    assert re.search(rf"^EXPOSE {port}$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    published = re.findall(r'-\s*"(\d+):(\d+)"', (REPO / "docker-compose.yml").read_text())
    assert [int(inside) for _, inside in published] == [port]
