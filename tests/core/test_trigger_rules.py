"""Trigger-rule evaluation: classic cases by name, then every upstream combination
of up to three tasks against an oracle written independently from the implementation."""
from __future__ import annotations

from itertools import combinations_with_replacement
from typing import Callable

import pytest

from flowctl.core.states import TaskInstanceState as S
from flowctl.core.trigger_rules import TriggerRule, UpstreamCounts, Verdict, evaluate

TR = TriggerRule
RUN, WAIT, SKIP, UF = Verdict.RUN, Verdict.WAIT, Verdict.SKIP, Verdict.UPSTREAM_FAILED


def verdict(rule: TriggerRule, *states: S) -> Verdict:
    return evaluate(rule, UpstreamCounts.from_states(states))


# --- classic cases ---------------------------------------------------------------------

@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstream_tasks_runs_whatever_its_rule(rule: TriggerRule) -> None:
    assert verdict(rule) is RUN


def test_all_success_runs_when_every_upstream_succeeded() -> None:
    assert verdict(TR.ALL_SUCCESS, S.SUCCESS, S.SUCCESS) is RUN


def test_all_success_waits_while_an_upstream_is_still_running() -> None:
    assert verdict(TR.ALL_SUCCESS, S.SUCCESS, S.RUNNING) is WAIT


def test_all_success_with_a_skipped_upstream_is_skipped() -> None:
    assert verdict(TR.ALL_SUCCESS, S.SUCCESS, S.SKIPPED) is SKIP


def test_all_success_with_a_failed_upstream_is_upstream_failed_even_if_others_still_run() -> None:
    assert verdict(TR.ALL_SUCCESS, S.FAILED, S.RUNNING) is UF
    assert verdict(TR.ALL_SUCCESS, S.UPSTREAM_FAILED, S.SKIPPED) is UF


def test_one_success_runs_as_soon_as_one_upstream_succeeded() -> None:
    assert verdict(TR.ONE_SUCCESS, S.SUCCESS, S.RUNNING, S.QUEUED) is RUN


def test_one_success_is_skipped_when_all_upstreams_were_skipped() -> None:
    assert verdict(TR.ONE_SUCCESS, S.SKIPPED, S.SKIPPED) is SKIP


def test_one_success_is_upstream_failed_when_all_finished_without_a_success() -> None:
    assert verdict(TR.ONE_SUCCESS, S.FAILED, S.FAILED) is UF
    assert verdict(TR.ONE_SUCCESS, S.FAILED, S.SKIPPED) is UF


def test_one_failed_runs_as_soon_as_one_upstream_failed() -> None:
    assert verdict(TR.ONE_FAILED, S.FAILED, S.RUNNING) is RUN


def test_one_failed_is_skipped_when_everything_finished_without_failure() -> None:
    assert verdict(TR.ONE_FAILED, S.SUCCESS, S.SKIPPED) is SKIP


def test_all_failed_is_skipped_as_soon_as_one_upstream_succeeded() -> None:
    assert verdict(TR.ALL_FAILED, S.SUCCESS, S.RUNNING) is SKIP


def test_all_done_runs_once_everything_finished_whatever_the_outcome() -> None:
    assert verdict(TR.ALL_DONE, S.FAILED, S.SKIPPED, S.SUCCESS) is RUN
    assert verdict(TR.ALL_DONE, S.FAILED, S.UP_FOR_RETRY) is WAIT


def test_none_failed_runs_when_upstreams_succeeded_or_were_skipped() -> None:
    assert verdict(TR.NONE_FAILED, S.SUCCESS, S.SKIPPED) is RUN
    assert verdict(TR.NONE_FAILED, S.SKIPPED, S.SKIPPED) is RUN


def test_none_failed_min_one_success_is_skipped_when_all_upstreams_were_skipped() -> None:
    assert verdict(TR.NONE_FAILED_MIN_ONE_SUCCESS, S.SKIPPED, S.SKIPPED) is SKIP
    assert verdict(TR.NONE_FAILED_MIN_ONE_SUCCESS, S.SKIPPED, S.SUCCESS) is RUN


def test_none_skipped_is_skipped_as_soon_as_one_upstream_was_skipped() -> None:
    assert verdict(TR.NONE_SKIPPED, S.SKIPPED, S.RUNNING) is SKIP
    assert verdict(TR.NONE_SKIPPED, S.FAILED, S.SUCCESS) is RUN


def test_always_runs_at_once_even_while_upstreams_run() -> None:
    assert verdict(TR.ALWAYS, S.RUNNING, S.FAILED) is RUN


def test_removed_upstreams_are_ignored() -> None:
    assert verdict(TR.ALL_SUCCESS, S.SUCCESS, S.REMOVED) is RUN
    assert verdict(TR.ALL_SUCCESS, S.REMOVED) is RUN


def test_retrying_and_deferred_upstreams_count_as_unfinished() -> None:
    for state in (S.UP_FOR_RETRY, S.UP_FOR_RESCHEDULE, S.DEFERRED, S.PENDING, S.SCHEDULED):
        assert verdict(TR.ALL_DONE, S.SUCCESS, state) is WAIT


def test_rules_and_verdicts_accept_their_string_values() -> None:
    counts = UpstreamCounts.from_states(["success", "skipped"])
    assert evaluate("none_failed", counts) is RUN
    assert Verdict.SKIP.new_state is S.SKIPPED and Verdict.RUN.new_state is None


def test_inconsistent_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        UpstreamCounts(total=1, success=2)


# --- exhaustive check against an independent oracle -------------------------------------
# Upstreams are written as letters: s success, f failed, u upstream_failed, k skipped,
# r unfinished (running, pending ...). The oracle reads the letters directly.

LETTERS = {"s": S.SUCCESS, "f": S.FAILED, "u": S.UPSTREAM_FAILED, "k": S.SKIPPED, "r": S.RUNNING}


def _wait_unless(finished: bool, outcome: Verdict) -> Verdict:
    return outcome if finished else WAIT


def oracle(rule: TriggerRule, ups: str) -> Verdict:
    """What Airflow 2 does, restated per rule from the documented behaviour."""
    if ups == "":
        return RUN
    finished = "r" not in ups
    bad = "f" in ups or "u" in ups
    table: dict[TriggerRule, Callable[[], Verdict]] = {
        TR.ALWAYS: lambda: RUN,
        TR.ALL_DONE: lambda: _wait_unless(finished, RUN),
        TR.ALL_SUCCESS: lambda: UF if bad else SKIP if "k" in ups else _wait_unless(finished, RUN),
        TR.ALL_FAILED: lambda: SKIP if set(ups) & set("sk") else _wait_unless(finished, RUN),
        TR.ALL_SKIPPED: lambda: SKIP if set(ups) & set("sfu") else _wait_unless(finished, RUN),
        TR.ONE_SUCCESS: lambda: RUN if "s" in ups else _wait_unless(
            finished, SKIP if set(ups) == {"k"} else UF),
        TR.ONE_FAILED: lambda: RUN if bad else _wait_unless(finished, SKIP),
        TR.ONE_DONE: lambda: RUN if set(ups) & set("sf") else _wait_unless(finished, SKIP),
        TR.NONE_FAILED: lambda: UF if bad else _wait_unless(finished, RUN),
        TR.NONE_FAILED_MIN_ONE_SUCCESS: lambda: UF if bad else SKIP if set(ups) == {"k"}
        else _wait_unless(finished, RUN),
        TR.NONE_SKIPPED: lambda: SKIP if "k" in ups else _wait_unless(finished, RUN),
        # none of these upstreams is a setup task: a teardown without setups runs once all are done
        TR.ALL_DONE_SETUP_SUCCESS: lambda: _wait_unless(finished, RUN),
    }
    return table[rule]()


CASES = [
    "".join(combo) for n in range(4) for combo in combinations_with_replacement("sfukr", n)
]


def test_the_exhaustive_case_list_covers_every_multiset_of_up_to_three_upstreams() -> None:
    assert len(CASES) == 1 + 5 + 15 + 35


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_every_upstream_combination_matches_the_oracle(rule: TriggerRule) -> None:
    mismatches = [
        (ups, verdict(rule, *(LETTERS[c] for c in ups)), oracle(rule, ups))
        for ups in CASES
        if verdict(rule, *(LETTERS[c] for c in ups)) is not oracle(rule, ups)
    ]
    assert mismatches == []


# --- all_done_setup_success (a teardown's rule): its setups among the upstreams ----------------
# ``work`` and ``setups`` are letters as above; the setups are upstreams too.

def teardown_verdict(work: str, setups: str) -> Verdict:
    states = [LETTERS[c] for c in work + setups]
    return evaluate(TR.ALL_DONE_SETUP_SUCCESS,
                    UpstreamCounts.from_states(states, [LETTERS[c] for c in setups]))


def teardown_oracle(work: str, setups: str) -> Verdict:
    """Airflow 2.7: wait for every upstream; then skipped if every setup was skipped, upstream_failed
    if no setup succeeded, else run -- whatever became of the work."""
    if "r" in work + setups:
        return WAIT
    if setups and set(setups) == {"k"}:
        return SKIP
    if setups and "s" not in setups:
        return UF
    return RUN


def test_a_teardown_runs_after_its_work_failed_when_its_setup_succeeded() -> None:
    assert teardown_verdict("f", "s") is RUN
    assert teardown_verdict("u", "s") is RUN


def test_a_teardown_waits_for_its_work_even_once_its_setup_succeeded() -> None:
    assert teardown_verdict("r", "s") is WAIT


def test_a_teardown_is_skipped_when_its_setups_were_skipped_and_upstream_failed_when_they_failed() -> None:
    assert teardown_verdict("k", "k") is SKIP
    assert teardown_verdict("u", "f") is UF
    assert teardown_verdict("s", "fk") is UF


def test_a_teardown_runs_when_one_of_its_setups_succeeded() -> None:
    assert teardown_verdict("u", "fs") is RUN


@pytest.mark.parametrize("work", [c for c in CASES if len(c) <= 2])
def test_every_teardown_combination_matches_the_oracle(work: str) -> None:
    setup_cases = ["".join(combo) for n in range(1, 3) for combo in combinations_with_replacement("sfukr", n)]
    mismatches = [(work, setups, teardown_verdict(work, setups), teardown_oracle(work, setups))
                  for setups in setup_cases if teardown_verdict(work, setups) is not teardown_oracle(work, setups)]
    assert mismatches == []


def test_setup_counts_beyond_the_upstream_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        UpstreamCounts(total=1, success=1, setup=2)
    with pytest.raises(ValueError):
        UpstreamCounts(total=2, success=2, setup=1, setup_success=1, setup_skipped=1)


def test_trigger_rule_answers_airflows_is_valid_and_all_triggers() -> None:
    assert TriggerRule.is_valid("none_failed_min_one_success") and TriggerRule.is_valid(TriggerRule.ALWAYS)
    assert not TriggerRule.is_valid("sometimes")
    assert TriggerRule.all_triggers() == {r.value for r in TriggerRule} and "all_done" in TriggerRule.all_triggers()
