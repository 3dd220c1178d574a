"""Fixtures of the end-to-end tests: throw-away deployments on SQLite and PostgreSQL.

``deploy(dialect, **config)`` (per test) and ``deploy_module(dialect, **config)``
(shared by one module's tests, to start one scheduler for several DAGs) build a
:class:`~tests.e2e.harness.Deployment`: FLOWCTL_HOME in a temporary folder,
config.cfg, a copy of a migrated SQLite file or a clone of a migrated
PostgreSQL template database, then ``flowctl db init``. Teardown kills every
process the deployment started and drops its database.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowctl.db import migrate
from flowctl.db.engine import make_engine
from tests.db_fixtures import _unreachable, create_pg_database, drop_pg_database
from tests.e2e.harness import Deployment

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
Deploy = Callable[..., Deployment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every e2e test runs real processes: mark it slow (still part of the default run)."""
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def _e2e_pg_template() -> Iterator[str]:
    """Name of a migrated PostgreSQL database that each deployment clones (fast, ~0.2 s)."""
    try:
        url = create_pg_database()
    except (ConnectionError, sa.exc.OperationalError) as exc:
        _unreachable(str(exc).splitlines()[0])
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield str(sa.engine.make_url(url).database)
    drop_pg_database(url)


class _Factory:
    """Builds deployments under one temporary root and tears them all down."""

    def __init__(self, root: Path, request: pytest.FixtureRequest) -> None:
        self.root = root
        self.request = request
        self.made: list[tuple[Deployment, str | None]] = []

    def __call__(self, dialect: str, **config: str) -> Deployment:
        home = self.root / f"home{len(self.made)}"
        home.mkdir(parents=True)
        pg_url = None
        if dialect == "sqlite":
            template = self.request.getfixturevalue("_sqlite_template")
            shutil.copyfile(template, home / "flowctl.db")
            url = f"sqlite:///{home / 'flowctl.db'}"
        else:
            url = pg_url = create_pg_database(template=self.request.getfixturevalue("_e2e_pg_template"))
        deployment = Deployment(home=home, db_url=url)
        for name, value in config.items():
            section, key = name.split("__", 1)
            deployment.config[(section, key)] = str(value)
        self.made.append((deployment, pg_url))
        return deployment.setup()

    def close(self) -> None:
        for deployment, pg_url in self.made:
            deployment.close()
            if pg_url is not None:
                drop_pg_database(pg_url)


@pytest.fixture
def deploy(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deploy]:
    """Factory of deployments that live for one test."""
    factory = _Factory(tmp_path, request)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def deploy_module(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Deploy]:
    """Factory of deployments shared by the tests of one module."""
    factory = _Factory(tmp_path_factory.mktemp("e2e"), request)
    yield factory
    factory.close()
