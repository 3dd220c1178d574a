"""Setup scopes in the planner: Airflow's setup constraint and the reasons it gives.

A task inside a setup's scope (below the setup, above one of its teardowns;
below it at all when it has none) that is not the setup's direct downstream
runs only once that setup succeeded: a failed (or upstream_failed) setup
makes it upstream_failed, a skipped one skipped, an unfinished one makes it
wait, whatever its own trigger rule (``always`` excepted, as in Airflow).
The direct downstream tasks of a setup keep all_success
(``setup_teardown.check_setups``), so their trigger rule already does this;
a teardown looks at its setups through ``all_done_setup_success``.
The graph names each task's setups of this kind (``TaskSpec.scope_setups``).

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from flowctl.core.planner.graph import TaskSpec
from flowctl.core.states import TaskInstanceState
from flowctl.core.trigger_rules import TriggerRule, Verdict

S = TaskInstanceState
_DONE_WELL = frozenset({S.SUCCESS.value, S.REMOVED.value})


def scope_verdict(spec: TaskSpec, setup_states: Iterable[str]) -> Verdict | None:
    """What the setups of the task's scope decide (None: they succeeded, or there are none)."""
    if spec.trigger_rule is TriggerRule.ALWAYS:
        return None
    tally = Counter(setup_states)
    if tally[S.FAILED.value] or tally[S.UPSTREAM_FAILED.value]:
        return Verdict.UPSTREAM_FAILED
    if tally[S.SKIPPED.value]:
        return Verdict.SKIP
    if tally.keys() - _DONE_WELL:
        return Verdict.WAIT
    return None


def _named(states: Mapping[str, list[str]]) -> str:
    return ", ".join(f"{task_id!r} ({'/'.join(sorted(set(found)) or ['no task instance'])})"
                     for task_id, found in sorted(states.items()))


def scope_reasons(label: str, spec: TaskSpec, states: Mapping[str, list[str]]) -> list[str]:
    """The line naming the setups that hold a task of their scope back (``states``: each setup's states)."""
    if scope_verdict(spec, (s for found in states.values() for s in found)) is None:
        return []
    held = {t: found for t, found in states.items() if set(found) - _DONE_WELL or not found}
    plural = "s" if len(held) > 1 else ""
    return [f"{label}: waits for setup task{plural} {_named(held)}: it runs only once the setups of its scope "
            f"succeeded"]


def teardown_reasons(label: str, states: Mapping[str, list[str]]) -> list[str]:
    """The line naming the setups of a teardown that is not running yet."""
    if not states:
        return []
    plural = "s" if len(states) > 1 else ""
    return [f"{label}: teardown of setup task{plural} {_named(states)}: it runs once its upstream tasks are "
            f"done if one of its setups succeeded"]
