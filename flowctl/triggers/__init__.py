"""Triggers: the small asyncio waits that deferred tasks hand to the triggerer (``flowctl triggerer``).

``flowctl.triggers.base`` (BaseTrigger, TriggerEvent), ``flowctl.triggers.temporal``
(DateTimeTrigger, TimeDeltaTrigger) and ``flowctl.triggers.file`` (FileTrigger), at Airflow 2's paths.
Must not import flowctl.db, web, cli or scheduler.
"""
