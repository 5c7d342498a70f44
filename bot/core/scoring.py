"""Scoring one check-in: per-domain means, tension and repair, completeness.

The input is plain data the caller reads from storage (``CheckinRecord``); the
output (``CheckinScore``) is what the strain rules in ``bot.core.strain`` compare
over time. Higher scores always mean a stronger alliance (``Item.score`` applies
reverse scoring).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Literal

from bot.core.instrument import DEFAULT_INSTRUMENT_ID, Instrument, Item

CheckinStatus = Literal["completed", "partial", "unanswered", "expired", "pending"]

# Domains with a fixed meaning for the rules: a choice item "tension" (0 = none,
# higher = more) and its follow-up "repair" (0 = not talked through, its highest
# option = fully talked through). See docs/instruments.md.
TENSION_DOMAIN = "tension"
REPAIR_DOMAIN = "repair"


@dataclass(frozen=True)
class CheckinRecord:
    """One check-in as stored: when, its state, and the client's answers."""

    checkin_id: int
    sequence: int
    session_end: datetime
    due_at: datetime
    status: CheckinStatus
    answers: Mapping[str, int | None]
    has_comment: bool
    comment: str | None = None
    therapist_rating: int | None = None
    instrument_id: str = DEFAULT_INSTRUMENT_ID

    @property
    def responded(self) -> bool:
        """Whether the client gave any answer at all (a value or a comment)."""
        return self.has_comment or any(v is not None for v in self.answers.values())

    @property
    def non_response(self) -> bool:
        """Sent, closed and never answered: the signal the withdrawal rule counts."""
        return self.status == "unanswered" and not self.responded


@dataclass(frozen=True)
class CheckinScore:
    """What one check-in says about the alliance, on the instrument's own scales."""

    domains: Mapping[str, float]
    overall: float | None
    tension: int | None
    talked_through: int | None
    repaired: bool
    unresolved: bool
    completeness: float

    @property
    def scored(self) -> bool:
        """Whether any scale item was answered."""
        return bool(self.domains)


def position(item: Item, score: float) -> float:
    """Where a score sits on its item's scale: 0 at the bottom, 1 at the top."""
    assert item.scale_min is not None and item.scale_max is not None
    return (score - item.scale_min) / (item.scale_max - item.scale_min)


def first_item(instrument: Instrument, domain: str) -> Item | None:
    """The first choice item of a domain with a fixed meaning (tension, repair)."""
    for item in instrument.items:
        if item.domain == domain and item.kind == "choice":
            return item
    return None


def full_repair_value(item: Item) -> int:
    """The answer meaning "yes, we talked it through": the repair item's highest option."""
    return max(option.value for option in item.options)


def valid_answer(item: Item, value: int | None) -> int | None:
    """The value if the item allows it, else None (a skipped or corrupt answer)."""
    if value is None or item.kind == "text" or item.option(value) is None:
        return None
    return value


def score_checkin(instrument: Instrument, record: CheckinRecord) -> CheckinScore:
    """Score a check-in with the instrument it was answered on."""
    answers = {
        item.id: valid_answer(item, record.answers.get(item.id))
        for item in instrument.items
        if item.kind != "text"
    }
    per_domain: dict[str, list[float]] = {}
    core_scores: list[float] = []
    for item in instrument.items:
        value = answers.get(item.id)
        if item.kind != "scale" or value is None:
            continue
        score = item.score(value)
        per_domain.setdefault(item.domain, []).append(score)
        if item.core:
            core_scores.append(score)

    tension_item = first_item(instrument, TENSION_DOMAIN)
    repair_item = first_item(instrument, REPAIR_DOMAIN)
    tension = answers.get(tension_item.id) if tension_item else None
    talked_through = answers.get(repair_item.id) if repair_item else None
    reported = tension is not None and tension > 0
    repaired = (
        reported and repair_item is not None and talked_through == full_repair_value(repair_item)
    )
    # While the check-in is still open the follow-up may simply not be asked yet.
    awaiting_follow_up = (
        record.status == "pending"
        and repair_item is not None
        and repair_item.id not in record.answers
    )
    unresolved = reported and not repaired and not awaiting_follow_up

    included = [item.id for item in instrument.items_for(record.sequence)]
    applicable = [
        item
        for item in instrument.applicable(included, answers)
        if item.kind != "text" and not item.optional
    ]
    answered = sum(1 for item in applicable if answers.get(item.id) is not None)
    return CheckinScore(
        domains={domain: fmean(scores) for domain, scores in per_domain.items()},
        overall=fmean(core_scores) if core_scores else None,
        tension=tension,
        talked_through=talked_through,
        repaired=repaired,
        unresolved=unresolved,
        completeness=answered / len(applicable) if applicable else 0.0,
    )
