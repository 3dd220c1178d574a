"""``flowctl standalone``: everything on one machine with one command, for a first try.

Initialises (or upgrades) the database, creates an ``admin`` user with a
random password printed once when there is no user yet, then starts the
scheduler, the triggerer (deferred tasks' triggers) and the web server (and, with ``[core] executor = celery``, a Celery
worker on the ``default`` queue) as child processes in one process group of their own. Their output goes to the
terminal, each line prefixed with the component's name, and to a log file
per component. SIGINT/SIGTERM are forwarded to the group; the children get
``STOP_GRACE_SECONDS`` to stop before they are killed. Nothing imports this
module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from flowctl.cli.app import CliContext, cli, pass_ctx

COMPONENTS = ("scheduler", "triggerer", "webserver")
STOP_GRACE_SECONDS = 30.0
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Component:
    """One child process of standalone: its name and command line."""

    name: str
    argv: tuple[str, ...]


def components(available: Iterable[str], python: str, config_path: str | None,
               executor: str = "local") -> list[Component]:
    """The children to start: each of COMPONENTS that this flowctl has a command for, and with
    the Celery executor a worker on the ``default`` queue (tasks of other queues need workers of theirs)."""
    present = set(available)
    config = ("--config", config_path) if config_path else ()
    wanted = [Component(name, (python, "-m", "flowctl", *config, name)) for name in COMPONENTS if name in present]
    if executor.strip().lower() == "celery" and "celery" in present:
        wanted.append(Component("worker", (python, "-m", "flowctl", *config, "celery", "worker", "-q", "default")))
    return wanted


def ensure_admin(ctx: CliContext) -> str | None:
    """Create the ``admin`` user (role Admin) with a random password if there is no user; the password."""
    from flowctl.db.users import NewUser

    if ctx.store.list_users():
        return None
    password = secrets.token_urlsafe(12)
    ctx.store.create_user(NewUser(username=ADMIN, role="Admin"), password, datetime.now(timezone.utc))
    return password


def _init_database(ctx: click.Context) -> None:
    from flowctl.cli.db_cmd import db_init

    ctx.invoke(db_init)


class Children:
    """The started children, in one process group; their output relayed with a prefix."""

    def __init__(self, log_folder: Path) -> None:
        self.log_folder = log_folder
        self.procs: list[tuple[Component, subprocess.Popen[bytes]]] = []
        self.threads: list[threading.Thread] = []
        self.pgid: int | None = None

    def start(self, component: Component) -> Path:
        """Start one child (the first founds the process group); the path of its log file."""
        self.log_folder.mkdir(parents=True, exist_ok=True)
        log_file = self.log_folder / f"{component.name}.log"
        proc = subprocess.Popen(list(component.argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, process_group=0 if self.pgid is None else self.pgid)
        if self.pgid is None:
            self.pgid = proc.pid
        assert proc.stdout is not None
        thread = threading.Thread(target=_relay, args=(component.name, proc.stdout, log_file), daemon=True)
        thread.start()
        self.procs.append((component, proc))
        self.threads.append(thread)
        return log_file

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the whole group."""
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, signum)
            except ProcessLookupError:
                pass

    def first_exit(self) -> tuple[Component, int] | None:
        """A child that has exited, with its code, or None while all run."""
        for component, proc in self.procs:
            code = proc.poll()
            if code is not None:
                return component, code
        return None

    def stop(self, grace: float) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                proc.wait()
        for thread in self.threads:
            thread.join(timeout=2)


def _relay(name: str, stream: IO[bytes], log_file: Path) -> None:
    prefix = f"{name:<9} | "
    with log_file.open("ab") as sink:
        for line in iter(stream.readline, b""):
            sink.write(line)
            sink.flush()
            click.echo(prefix + line.decode(errors="replace").rstrip("\n"))


@cli.command("standalone")
@pass_ctx
@click.pass_context
def standalone(click_ctx: click.Context, ctx: CliContext) -> int:
    """Init the database, create an admin user, run the scheduler (and web server) until Ctrl-C."""
    _init_database(click_ctx)
    password = ensure_admin(ctx)
    wanted = components(cli.commands, sys.executable, ctx._config_path, str(ctx.settings.get("core", "executor")))
    if not any(c.name == "scheduler" for c in wanted):
        raise click.ClickException("this flowctl has no `scheduler` command yet; nothing to start")
    log_folder = Path(str(ctx.settings.get("logging", "base_log_folder"))) / "standalone"
    children = Children(log_folder)
    stop = threading.Event()  # handlers first: a SIGTERM right after the children start must not kill us

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    for component in wanted:
        log_file = children.start(component)
        click.echo(f"started {component.name} (log: {log_file})")
    click.echo(f"task logs: {ctx.settings.get('logging', 'base_log_folder')}")
    if any(c.name == "webserver" for c in wanted):
        click.echo(f"web UI: {ctx.settings.web_url}")
    if password is not None:
        click.echo(f"created user {ADMIN!r}; password (shown only now): {password}")
    return _supervise(children, stop, previous)


def _supervise(children: Children, stop: threading.Event, previous: dict[int, Any]) -> int:
    """Wait until a signal arrives (``stop`` is set) or a child exits; stop the others; the exit code."""
    try:
        ended = None
        while not stop.is_set() and ended is None:
            stop.wait(0.5)
            ended = children.first_exit()
        if ended is not None:
            click.echo(f"{ended[0].name} exited with code {ended[1]}; stopping the rest", err=True)
        else:
            click.echo("stopping (waiting for the children to finish)...")
        children.stop(STOP_GRACE_SECONDS)
        return 1 if ended is not None and ended[1] != 0 else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

