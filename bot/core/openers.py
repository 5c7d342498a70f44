"""Which way of opening a relationship conversation fits a client's findings.

The choice follows what the answers say, not a fixed order of domains: each finding
proposes a topic with a size (how far a domain fell below the client's usual, how
low an answer was, how much tension there was, how many check-ins went unanswered),
and the largest one wins. Three or more core domains moving together (each by at
least half the deepest dip) is one shift in the relationship, not three problems: it
gets the general opener. Patterns with
their own conversation (a disagreement of views, a chronically low alliance, a
tension that keeps coming back, a low alliance early on — lukewarm from the first
check-ins is early, not chronic —, a check-back after a conversation, unless a new
unresolved tension came since) get their own topic. A note the client left changes the wording, not
the topic: the transparent opener thanks them for it.

The lines themselves are templates (``conversation.<topic>_checkin``,
``conversation.<topic>_tentative``, ``conversation.<topic>_hint``). Pure: no texts,
no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.strain import DOMAIN_ORDER, Reason, Severity, StrainAssessment

# Domains of the core items: three of them moving at once is a general shift.
CORE_DOMAINS = ("bond", "goals", "tasks", "openness")
GENERAL_FROM = 3
# Domains move "together" when each fell at least this share of the deepest dip.
TOGETHER_SHARE = 0.5
TOPICS = (
    "bond",
    "goals",
    "tasks",
    "openness",
    "support",
    "tension",
    "recurring",
    "withdrawal",
    "disagreement",
    "chronic",
    "early",
    "check_back",
    "general",
)
# A moment of tension is the most concrete thing to talk about: among findings of the
# same size, these come first (then the domains in the strain rules' order).
_TIE_ORDER = ("recurring", "tension", "early", "chronic", "disagreement", "withdrawal")


@dataclass(frozen=True)
class OpenerChoice:
    """The topic of the conversation and whether the client left a note to thank them for."""

    topic: str
    note: bool
    # The domains that moved, largest first (for tests and the detail's wording).
    moved: tuple[str, ...] = ()


def _dip(reason: Reason) -> float:
    """How far a domain finding fell: below the usual, or below the scale's middle."""
    value = reason.value if reason.value is not None else 0.0
    if reason.rule == "below_baseline":
        return max(reason.drop or 0.0, (reason.baseline or value) - value)
    top = reason.scale_max or 5
    middle = (top + 1) / 2
    return middle - value + 1.0  # at the middle: 1; one below: 2


def _early_run(reasons: Sequence[Reason]) -> bool:
    """Whether a chronically low run lies wholly in the first check-ins: it ends in a
    check-in the early rule flagged. Lukewarm from the start is the early pattern (early
    ruptures that are resolved keep clients, Muran et al. 2009), not a lasting one that
    calls for another approach."""
    early = {r.checkin_id for r in reasons if r.rule == "early_low" and r.checkin_id is not None}
    return any(r.rule == "chronic_low" and r.checkin_id in early for r in reasons)


def _new_tension(reasons: Sequence[Reason], talked_on: datetime | None) -> bool:
    """Whether an unresolved tension that calls for a conversation was reported at or
    after the talk (any, when the talk's date is not known): a new concrete moment."""
    return any(
        r.rule == "unresolved_tension"
        and r.severity >= Severity.CONVERSATION
        and (talked_on is None or (r.since is not None and r.since >= talked_on))
        for r in reasons
    )


def _proposals(reasons: Sequence[Reason]) -> dict[str, float]:
    """Each topic the findings suggest, with the size of the largest finding behind it."""
    sizes: dict[str, float] = {}
    early_run = _early_run(reasons)

    def propose(topic: str, size: float) -> None:
        sizes[topic] = max(sizes.get(topic, 0.0), size)

    for reason in reasons:
        rule = reason.rule
        if rule in ("below_baseline", "low_item") and reason.domain:
            topic = reason.domain if reason.domain in TOPICS else "general"
            propose(topic, _dip(reason))
        elif rule == "early_low":
            propose("early", _dip(reason) + 0.5)  # early low alliance weighs more
        elif rule == "unresolved_tension":
            propose("tension", 2.5 if reason.tension == "a_lot" else 1.5)
        elif rule == "recurring_tension":
            propose("recurring", 2.0 + 0.5 * (reason.count or 2))
        elif rule == "chronic_low" and not early_run:
            propose("chronic", 2.5)
        elif rule == "withdrawal":
            propose("withdrawal", 1.0 + (reason.count or 1) * 0.5)
        elif rule == "disagreement":
            propose("disagreement", abs(reason.gap or 0.0) + 0.5)
        elif rule == "decline":
            propose("general", reason.drop or 1.0)
    return sizes


def _moved(reasons: Sequence[Reason]) -> tuple[str, ...]:
    """The core domains that moved together: below the client's usual or low now, by at
    least half as much as the largest dip (one deep dip with small ripples elsewhere is
    about that one domain), largest first."""
    dips: dict[str, float] = {}
    for reason in reasons:
        if reason.rule in ("below_baseline", "low_item", "early_low") and (
            reason.domain in CORE_DOMAINS
        ):
            assert reason.domain is not None
            dips[reason.domain] = max(dips.get(reason.domain, 0.0), _dip(reason))
    deepest = max(dips.values(), default=0.0)
    together = [d for d in dips if dips[d] >= TOGETHER_SHARE * deepest]
    return tuple(sorted(together, key=lambda d: (-dips[d], DOMAIN_ORDER.index(d))))


def _tie(topic: str) -> int:
    """Where a topic stands among findings of the same size."""
    if topic in _TIE_ORDER:
        return _TIE_ORDER.index(topic)
    if topic in DOMAIN_ORDER:
        return len(_TIE_ORDER) + DOMAIN_ORDER.index(topic)
    return len(_TIE_ORDER) + len(DOMAIN_ORDER)


def choose_opener(
    assessment: StrainAssessment,
    *,
    note: bool = False,
    check_back: bool = False,
    talked_on: datetime | None = None,
) -> OpenerChoice:
    """The topic that fits: the largest finding, general when three domains moved together.

    ``check_back``: a conversation about the relationship was held (on ``talked_on``)
    and the next check-ins are awaited; the opener asks how things have been since,
    unless an unresolved tension was reported since the talk: a new moment comes first.
    """
    moved = _moved(assessment.reasons)
    if check_back and not _new_tension(assessment.reasons, talked_on):
        return OpenerChoice("check_back", note, moved)
    rules = {r.rule for r in assessment.reasons}
    # A client chronically at the middle of the scale has every domain "low" every
    # week: that is the chronic pattern (or, from the first check-ins on, the early
    # one), not a sudden shift of several domains.
    together = len(moved) >= GENERAL_FROM or "convergence" in rules
    if together and "chronic_low" not in rules:
        return OpenerChoice("general", note, moved)
    sizes = _proposals(assessment.reasons)
    if not sizes:
        return OpenerChoice("general", note, moved)
    topic = min(sizes, key=lambda t: (-sizes[t], _tie(t)))
    return OpenerChoice(topic, note, moved)
