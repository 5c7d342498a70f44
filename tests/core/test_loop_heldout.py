"""The conversation-loop and opener cases of block a: agreement must not fall below the docs.

The cases (tests/data/loop_heldout/2026-12-03-*.toml) were written before the rules were
read or run on them and are never edited to make the code pass. Their first run (26/36,
18/23) is the held-out figure; their disagreements were then read and seven fixed, so
block a is a tuning set now and the floors below are its figures after the fixes, quoted
in docs/clinical.md ("Held-out cases for the loop and the openers"): a regression test.
A change that loses agreement fails here; one that gains it raises the floor in the
same commit, and a change made while reading the cases is judged on a fresh block.
"""

from __future__ import annotations

from collections import Counter

from loop_heldout_cases import (
    LOOP_FILE,
    LOOP_VERDICTS,
    OPENERS_FILE,
    judge_opener,
    load,
    replay_loop,
)

from bot.core.conversation_loop import REASONS
from bot.core.openers import TOPICS

LOOP_CASES = 36
LOOP_FLOOR = 32
# Per verdict, so a gain on one cannot hide a loss on another.
LOOP_FLOOR_BY_VERDICT = {
    "repaired": 10,
    "held_waiting": 2,
    "held_not_improving": 6,
    "reminder": 3,
    "quiet": 2,
    "new_suggestion": 6,
    "eased": 3,
}
OPENER_CASES = 23
OPENER_FLOOR = 20


def test_the_cases_are_well_formed() -> None:
    """Every case reads, names a known verdict, and tells a story in order."""
    loop, openers = load(LOOP_FILE), load(OPENERS_FILE)
    assert len(loop) == LOOP_CASES and len(openers) == OPENER_CASES
    assert len({c["id"] for c in loop + openers}) == LOOP_CASES + OPENER_CASES
    for case in loop:
        assert case["expect"] in LOOP_VERDICTS, case["id"]
        assert case["now"] > case["suggested"], case["id"]
        for tap in case["taps"]:
            assert tap["answer"] in ("held", "not_yet", "not_needed"), case["id"]
            assert tap.get("reason", "usual") in REASONS, case["id"]
    for case in openers:
        assert case["expect"] in TOPICS, case["id"]
    for case in loop + openers:
        weeks = [c["w"] for c in case["checkins"]]
        assert weeks == sorted(set(weeks)) and weeks[-1] < case["now"], case["id"]
        assert case["why"] and case["story"], case["id"]


def test_the_loop_agrees_with_the_clinician_at_least_as_often_as_the_docs_say() -> None:
    """Replaying each story's digests gives the clinician's verdict in 32 of 36 or more."""
    want: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for case in load(LOOP_FILE):
        want[case["expect"]] += 1
        hit[case["expect"]] += replay_loop(case).verdict == case["expect"]
    assert sum(want.values()) == LOOP_CASES
    for verdict, floor in LOOP_FLOOR_BY_VERDICT.items():
        assert hit[verdict] >= floor, f"{verdict}: {hit[verdict]}/{want[verdict]} < {floor}"
    assert sum(hit.values()) >= LOOP_FLOOR


def test_the_opener_topic_agrees_with_the_clinician_at_least_as_often_as_the_docs_say() -> None:
    """The opener topic is the clinician's in 20 of 23 cases or more."""
    agreed = sum(judge_opener(case).topic == case["expect"] for case in load(OPENERS_FILE))
    assert agreed >= OPENER_FLOOR, f"{agreed}/{OPENER_CASES} < {OPENER_FLOOR}"
