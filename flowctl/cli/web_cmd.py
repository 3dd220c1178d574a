"""``flowctl webserver``: serve the web UI with gunicorn (or Flask's own server with ``--debug``).

Every gunicorn worker builds its own app (and database pool) after the fork;
the master checks the configuration first, so a missing ``[webserver]
secret_key`` is one error line, not a crash per worker. ``--daemon`` detaches
(gunicorn's BaseApplication never does: this command daemonizes before it
runs) and writes a pid file and ``$FLOWCTL_HOME/flowctl-webserver.log``.
gunicorn's control socket (one fixed path per user, shared by every gunicorn
on the host) is off. Nothing imports this module but ``flowctl/cli/__init__.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from flowctl.cli.app import CliContext, cli, pass_ctx
from flowctl.settings import Settings


class FlowctlGunicorn(BaseApplication):  # type: ignore[misc]
    """A gunicorn application whose workers each call ``create_app(settings)``."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # an option of a newer gunicorn than the one installed: left out
                self.cfg.set(key, value)

    def load(self) -> Any:
        from flowctl.web.app import create_app

        return create_app(self.settings)


def gunicorn_options(host: str, port: int, workers: int, pid_file: Path | None, daemon: bool,
                     access_log: str | None) -> dict[str, Any]:
    """The gunicorn settings for these command-line choices."""
    options: dict[str, Any] = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
                               "timeout": 120, "graceful_timeout": 20, "proc_name": "flowctl-webserver",
                               "daemon": daemon, "accesslog": access_log, "preload_app": False,
                               "control_socket_disable": True}
    if pid_file is not None:
        options["pidfile"] = str(pid_file)
    return options


@cli.command("webserver")
@click.option("--hostname", "-H", default=None, help="Address to listen on (default: [webserver] host).")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=None, help="Port (default: [webserver] port).")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="gunicorn worker processes (default: [webserver] workers).")
@click.option("--daemon", "-D", "daemon", is_flag=True, help="Detach and write a pid file.")
@click.option("--pid", "pid_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Pid file (default with --daemon: $FLOWCTL_HOME/flowctl-webserver.pid).")
@click.option("--access-logfile", default=None, help="Where gunicorn writes its access log ('-' = stdout).")
@click.option("--debug", "-d", is_flag=True, help="Run Flask's development server with the reloader off.")
@pass_ctx
def webserver(ctx: CliContext, hostname: str | None, port: int | None, workers: int | None, daemon: bool,
              pid_file: Path | None, access_logfile: str | None, debug: bool) -> None:
    """Serve the web UI (gunicorn; Airflow's `airflow webserver`)."""
    settings = ctx.settings
    host = hostname or str(settings.get("webserver", "host"))
    bind_port = port or int(settings.get("webserver", "port"))
    from flowctl.web.app import create_app

    app = create_app(settings)  # fails fast, in one line, on a bad configuration
    from flowctl.scheduler.dag_test import check_database

    check_database(app.extensions["flowctl.store"])  # one line now, rather than a 500 on every page
    if debug:
        click.echo(f"flowctl web UI (debug server) on http://{host}:{bind_port}")
        app.run(host=host, port=bind_port, debug=True, use_reloader=False, threaded=True)
        return
    app.extensions["flowctl.store"].close()  # the workers open their own pools after the fork
    if daemon and pid_file is None:
        pid_file = settings.home / "flowctl-webserver.pid"
    pid_file = None if pid_file is None else pid_file.resolve()
    options = gunicorn_options(host, bind_port, workers or int(settings.get("webserver", "workers")),
                               pid_file, daemon, access_logfile)
    click.echo(f"flowctl web UI on http://{host}:{bind_port} ({options['workers']} gunicorn workers)")
    if daemon:
        from gunicorn import util

        log = settings.home / "flowctl-webserver.log"
        options["errorlog"] = str(log)
        click.echo(f"Detaching; pid file {pid_file}, log {log}")
        util.daemonize(False)  # the parent exits here; stdio goes to /dev/null, gunicorn's log to the file
    FlowctlGunicorn(settings, options).run()
