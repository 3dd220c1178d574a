"""The container image and docker-compose.yml: what `docker compose up` publishes must be what flowctl
serves, and every command, option and setting the file names must be flowctl's."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner, Result

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
    assert [int(inside) for _, inside in published] == [port, int(settings.get("celery", "flower_port"))]


# --- docker-compose.yml: the Celery deployment -------------------------------------------------------

#: The services of the Celery deployment that run flowctl, and the verb each runs.
FLOWCTL_SERVICES = {"flowctl-init": ["db", "init"], "scheduler": ["scheduler"], "webserver": ["webserver"],
                    "triggerer": ["triggerer"], "worker": ["celery", "worker"], "flower": ["celery", "flower"]}
#: Compose's interpolation: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` (and ``$$`` for a ``$``).
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _interpolate(value: Any, environ: dict[str, str]) -> str:
    """``value`` as Compose makes it from ``environ`` (KeyError names a required variable left unset)."""
    def one(match: re.Match[str]) -> str:
        name, op = match["name"], match["op"]
        if environ.get(name):
            return environ[name]
        if op in (":-", "-"):
            return match["arg"]
        raise KeyError(f"{name} is required: {match['arg']}")
    return _INTERPOLATION.sub(one, str(value)).replace("$$", "$")


def _run(args: list[str]) -> Result:
    from flowctl.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _flowctl_args(command: list[str]) -> list[str]:
    assert command[0] == "flowctl", command
    return command[1:]


def test_compose_runs_postgres_redis_and_each_flowctl_component_from_the_repo_s_image() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", *FLOWCTL_SERVICES}
    for name, verb in FLOWCTL_SERVICES.items():
        service = services[name]
        assert service["build"] == ".", name  # the Dockerfile beside it
        assert _flowctl_args(service["command"])[:len(verb)] == verb, name


def test_every_flowctl_command_in_compose_is_a_real_verb_with_real_options() -> None:
    """``--help`` after the service's own arguments: click parses them first, so an unknown verb or
    option fails here as it would in the container; so do the healthchecks that run flowctl and the
    admin step the file's header documents."""
    compose = _compose()
    commands = [_flowctl_args(s["command"]) for s in compose["services"].values() if "command" in s]
    commands += [_flowctl_args(s["healthcheck"]["test"][1:]) for s in compose["services"].values()
                 if "healthcheck" in s and s["healthcheck"]["test"][1] == "flowctl"]
    documented = re.findall(r"docker compose run --rm (\S+) flowctl (.+)$",
                            (REPO / "docker-compose.yml").read_text(), re.MULTILINE)
    assert [service for service, _ in documented] == ["flowctl-init"]
    commands += [shlex.split(args) for _, args in documented]
    assert len(commands) == len(FLOWCTL_SERVICES) + 2 + 1  # the scheduler's and triggerer's checks, the admin
    for args in commands:
        result = _run([*args, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, (args, result.output)


def test_compose_s_environment_names_real_options_and_their_values_load(tmp_path: Path) -> None:
    """Each FLOWCTL__SECTION__KEY names an option (Settings.load refuses one that does not), its
    value parses, and with the image's own ENV the services get the Celery executor on the Redis and
    PostgreSQL services of the file."""
    from flowctl.settings import OPTIONS_BY_NAME

    compose = _compose()
    for name in FLOWCTL_SERVICES:
        raw = compose["services"][name]["environment"]
        names = [var for var in raw if var.startswith("FLOWCTL__")]
        assert names and all(var == var.upper() for var in names)
        unknown = [var for var in names if tuple(var[len("FLOWCTL__"):].lower().split("__")) not in OPTIONS_BY_NAME]
        assert not unknown, f"{name}: {unknown} name no flowctl option"
        env = {var: _interpolate(value, {"POSTGRES_PASSWORD": "pw"}) for var, value in raw.items()}
        settings = Settings.load(environ={**_image_environment(), **env, "FLOWCTL_HOME": str(tmp_path)})
        assert settings.get("core", "executor") == "celery"
        hosts = {urlsplit(settings.sql_alchemy_conn).hostname,
                 urlsplit(str(settings.get("celery", "broker_url"))).hostname,
                 urlsplit(str(settings.get("celery", "result_backend"))).hostname}
        assert hosts == {"postgres", "redis"}, hosts


def test_compose_holds_no_password_and_creates_no_user() -> None:
    """PostgreSQL's password is the user's (.env): Compose refuses to start without it. No service
    creates a user: the admin is an explicit step that prints a random password once."""
    compose = _compose()
    postgres = compose["services"]["postgres"]["environment"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD is required"):
        _interpolate(postgres["POSTGRES_PASSWORD"], {})
    url = compose["services"]["scheduler"]["environment"]["FLOWCTL__DATABASE__SQL_ALCHEMY_CONN"]
    assert urlsplit(_interpolate(url, {"POSTGRES_PASSWORD": "chosen"})).password == "chosen"
    with pytest.raises(KeyError):
        _interpolate(url, {})
    for name, service in compose["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|SECRET|FERNET|TOKEN", var):
                assert _INTERPOLATION.fullmatch(str(value)), f"{name}: {var} has a value of its own"
        assert "users" not in (service.get("command") or []), name
    text = (REPO / "docker-compose.yml").read_text()
    assert "users create --username admin --role Admin --use-random-password" in text


def test_compose_starts_flowctl_after_db_init_with_shared_home_checks_and_restarts() -> None:
    services = _compose()["services"]
    init = services["flowctl-init"]
    assert init["restart"] == "no" and init["depends_on"]["postgres"]["condition"] == "service_healthy"
    homes = set()
    for name in FLOWCTL_SERVICES:
        mounts = dict(volume.rsplit(":", 1)[::-1] for volume in services[name]["volumes"])
        homes.add(mounts["/opt/flowctl"])  # config.cfg with the secrets db init generates, and the logs
        assert mounts["/opt/flowctl/dags"] == "${FLOWCTL_DAGS:-./dags_example}"
    assert homes == {"flowctl-home"}
    for name in set(FLOWCTL_SERVICES) - {"flowctl-init"}:
        service = services[name]
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                         "redis": {"condition": "service_healthy"},
                                         "flowctl-init": {"condition": "service_completed_successfully"}}, name
        assert service["restart"] == "unless-stopped" and service["healthcheck"]["test"], name
    for name in ("postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped" and services[name]["healthcheck"]["test"], name
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert "inspect ping" in worker_check and "celery@$$HOSTNAME" in worker_check


def test_compose_s_flower_is_optional_and_will_not_listen_without_the_password_of_env(tmp_path: Path) -> None:
    """Flower runs only with its profile, its users come from .env alone, and left unset, flowctl
    refuses to serve it on the container's every address (one line) instead of opening it to anyone."""
    flower = _compose()["services"]["flower"]
    assert flower["profiles"] == ["flower"] and flower["ports"] == ["5555:5555"]
    raw = flower["environment"]["FLOWCTL__CELERY__FLOWER_BASIC_AUTH"]
    assert _INTERPOLATION.fullmatch(raw) and _interpolate(raw, {"FLOWER_BASIC_AUTH": "ops:pw"}) == "ops:pw"
    env = {var: _interpolate(value, {"POSTGRES_PASSWORD": "pw"}) for var, value in flower["environment"].items()}
    env = {**_image_environment(), **env, "FLOWCTL_HOME": str(tmp_path)}
    from flowctl.cli import cli
    from flowctl.core.errors import FlowctlError

    result = CliRunner().invoke(cli, _flowctl_args(flower["command"]), env=env)  # main() prints it as one line
    assert isinstance(result.exception, FlowctlError)
    assert "Flower on 0.0.0.0 would show every task's arguments" in str(result.exception)
