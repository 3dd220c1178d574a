"""The metadata database: the only flowctl package that imports SQLAlchemy.

``tables`` holds the schema (``…Row`` classes), ``engine`` builds engines,
``store`` the :class:`~flowctl.db.store.Store` whose domain verbs each own one
transaction and return frozen records (``records``), ``migrate`` drives the
Alembic versions in ``migrations/`` at the repository root.
Must not import web, cli, scheduler or executors.
"""
from __future__ import annotations
