"""Triggers: the small asyncio waits that deferred tasks hand to the triggerer (``flowctl triggerer``).

``flowctl.triggers.base`` (BaseTrigger, TriggerEvent), ``flowctl.triggers.temporal``
(DateTimeTrigger, TimeDeltaTrigger), ``flowctl.triggers.file`` (FileTrigger) and
``flowctl.triggers.external_task`` (DagStateTrigger, WorkflowTrigger), at Airflow 2's paths;
``flowctl.triggers.metadata``: how triggers read the metadata database (off the event loop).
Must not import flowctl.db (at import time), web, cli or scheduler.
"""
