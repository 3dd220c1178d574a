"""The Store: every domain verb on the metadata database, composed from one mixin per noun.

Each verb opens and commits its own short transaction and returns frozen
records (``flowctl.db.records``); no session ever reaches a caller. Verbs live
in ``dags.py``, ``runs.py``, ``task_instances.py``, ``xcom.py``, ``jobs.py``,
``audit.py``, ``clean.py``, ``sla.py``, ``datasets.py``, ``triggers.py``, ``run_marks.py`` (and the admin
nouns in ``admin.py``); this module only composes them and builds a Store from settings.
Must not import web, cli, scheduler or executors.
"""
from __future__ import annotations

from flowctl.db.admin import AdminVerbs
from flowctl.db.audit import AuditVerbs
from flowctl.db.base import StoreCore
from flowctl.db.clean import CleanVerbs
from flowctl.db.dag_view_queries import DagViewVerbs
from flowctl.db.dataset_aliases import DatasetAliasVerbs
from flowctl.db.datasets import DatasetVerbs
from flowctl.db.dags import DagVerbs
from flowctl.db.engine import make_engine
from flowctl.db.jobs import JobVerbs
from flowctl.db.operations import OperationVerbs
from flowctl.db.notify import NotifyVerbs
from flowctl.db.recovery import RecoveryVerbs
from flowctl.db.run_marks import RunMarkVerbs
from flowctl.db.runs import RunVerbs
from flowctl.db.scheduling import RunSchedulingVerbs
from flowctl.db.sla import SlaVerbs
from flowctl.db.task_queue import TaskQueueVerbs
from flowctl.db.runtime import RuntimeVerbs
from flowctl.db.task_instances import TaskInstanceVerbs
from flowctl.db.triggers import TriggerVerbs
from flowctl.db.web_queries import WebQueryVerbs
from flowctl.db.xcom import XComVerbs
from flowctl.settings import Settings


class Store(OperationVerbs, RunMarkVerbs, AdminVerbs, DagVerbs, RunVerbs, RuntimeVerbs, TaskInstanceVerbs, XComVerbs, JobVerbs, AuditVerbs, CleanVerbs, WebQueryVerbs, DagViewVerbs,
            RunSchedulingVerbs, TaskQueueVerbs, RecoveryVerbs, NotifyVerbs, SlaVerbs, DatasetVerbs, DatasetAliasVerbs, TriggerVerbs,
            StoreCore):
    """The metadata database, in domain verbs: ``Store(engine)`` or ``Store.from_settings(settings)``."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """A Store on ``[database] sql_alchemy_conn`` with the options from settings."""
        engine = make_engine(settings.sql_alchemy_conn, pool_size=int(settings.get("database", "sql_alchemy_pool_size")))
        return cls(engine, xcom_max_size=int(settings.get("core", "xcom_max_size")),
                   fernet_key=str(settings.get("core", "fernet_key")))
