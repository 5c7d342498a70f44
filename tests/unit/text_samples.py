"""Representative values for every text, shared by the text tests and the before/after fixture.

``VARIANTS`` names sets of values: ``full`` (every optional part present), ``empty`` (every
optional part absent), ``one`` (every count 1, for plural forms) and ``other`` (the
remaining branches: the milder severity, the other sources and states).
scripts/texts_before.py renders every text with each of them into tests/data/texts_before/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
from markupsafe import Markup

from bot.core.crisis import for_country, load_crisis_resources
from bot.texts import Texts

BERLIN = ZoneInfo("Europe/Berlin")
WHEN = datetime(2026, 11, 24, 17, 50, tzinfo=UTC).astimezone(BERLIN)

# Person-given text (aliases, notes) with characters that must be escaped on the way in.
ALIAS = "sam & lou"
NOTE = 'it was "fine" & <ok>'

FULL: dict[str, Any] = {
    # The conversation loop (prompts/templates/loop.j2).
    "after": "5",
    "answer": "not_needed",
    "answered_on": "24 Nov 2026",
    "before": "3",
    "client_said": "partly",
    "closed_on": "1 Dec 2026",
    "held": 2,
    "held_on": "24 Nov 2026",
    "improved": 1,
    "month": "November 2026",
    "not_needed": 1,
    "not_yet": True,
    "outcome": "repaired",
    "reason": "usual for them",
    "suggested": "17 Nov 2026",
    "until": "22 Dec 2026",
    # The digest's triage and detail (prompts/templates/digest.j2, conversation.j2).
    "alert": True,
    "details": True,
    "loop": "still_open",
    "loop_text": Markup("<b>sam &amp; lou</b> — talked on 24 Nov 2026."),
    "more": True,
    "names": [ALIAS, "kim"],
    "note": True,
    "risk": True,
    "risk_on": "24 Nov 2026",
    "what": ["felt heard 5→2"],
    "alerts": 1,
    "alias": ALIAS,
    "answered": 3,
    "at": WHEN,
    "away": "paused on 24 Nov",
    "baseline": "4.2",
    "can_go_back": True,
    "clients": 2,
    "clipped": True,
    "comment": NOTE,
    "comments": [NOTE, "second note"],
    "conversation": True,
    "count": 3,
    "counts": {
        "risk": 1,
        "conversation": 1,
        "watch": 1,
        "repaired": 1,
        "steady": 2,
        "no_checkins": 1,
        "away": 1,
    },
    "current": "Europe/Berlin",
    "changed": 2,
    "checkins": 5,
    "date": "24 Nov 2026",
    "day": WHEN,
    "days": 7,
    "domain": "bond",
    "due": WHEN,
    "due_now": True,
    "eased": ["Openness back to 4/5"],
    "eased_on": "24 Nov",
    "end": WHEN,
    "ended": WHEN,
    "enrolled": "3 Nov 2026",
    "former": "sam & lou~2026-11-02",
    "findings": ["Openness: 2/5, usually 4.2", "Overall down from 4.5 to 3.1/5"],
    "has_comment": True,
    "high": 5,
    "higher": True,
    "hint": "talk about pace",
    "hours": 72,
    "invited": True,
    "kind": "scale",
    "label": "Felt heard",
    "joined": "2026-11-03",
    "latest_on": "24 Nov",
    # Lines already rendered as HTML (texts.markup), as bot/handlers/myanswers.py passes them.
    "lines": [
        Markup("• <b>Tuesday 24 Nov</b>: heard 5"),
        Markup("• <b>Tuesday 17 Nov</b>: heard 4"),
    ],
    "looks": 3,
    "low": 3,
    "level": "high",
    "link": "https://t.me/alliance_bot?start=abcDEF123_-",
    "minutes": 50,
    "months": 12,
    "name": "Dr. Ada Example",
    "next_end": WHEN,
    "no_data": True,
    "notes": 2,
    "number": 5,
    "older": 4,
    "on": True,
    "opener": "Can we come back to last week?",
    "openers": ["Can we come back to last week?", "I wondered how last time was for you."],
    "out_of": 5,
    "overall": "3.1",
    "parts": [("heard", 5), ("what matters", 4)],
    "paused": True,
    "position": 2,
    "question": "We worked on what matters most to me.",
    "quote": NOTE,
    "rating": 4,
    "reminder": True,
    "repaired": True,
    "resources": None,  # per locale, below
    "line": None,  # per variant, below
    "regional": None,  # per locale and variant, below
    "rows": 12,
    "sessions": 6,
    "same_day": True,
    "scores": [("Heard", 4), ("Goals", 3)],
    "session_day": WHEN,
    "severe": True,
    "severity": 2,
    "since": "17 Nov",
    "silent": 2,
    "source": "comment",
    "start": WHEN,
    "state": "pending",
    "suggestions": ["Europe/Berlin", "America/New_York"],
    "status": "active",
    "talked": "partly",
    "talked_on": "24 Nov",
    "talked_through": True,
    "tension": "a_lot",
    "therapist": "Dr. Ada Example",
    "therapist_name": "Dr. Ada Example",
    "time": "08:00",
    "total": 6,
    "tz": BERLIN,
    "unanswered": 2,
    "unresolved": True,
    "url": "https://example.org/alliance-checkin",
    "usual": ["Openness 3/5, usually 3–5"],
    "value": WHEN,
    "weekday": 1,
    "window": 5,
}

EMPTY: dict[str, Any] = {
    **FULL,
    "alert": False,
    "details": False,
    "loop": "",
    "silent": 0,
    "loop_text": "",
    "more": False,
    "names": [],
    "note": False,
    "risk": False,
    "risk_on": "",
    "what": [],
    "away": "",
    "due_now": False,
    "former": "",
    "higher": False,
    "suggestions": [],
    "usual": [],
    "can_go_back": False,
    "clipped": False,
    "comments": [],
    "conversation": False,
    "counts": {
        "risk": 0,
        "conversation": 0,
        "watch": 0,
        "repaired": 0,
        "steady": 0,
        "no_checkins": 0,
        "away": 0,
    },
    "alerts": 0,
    "changed": 0,
    "eased": [],
    "lines": [],
    "looks": 1,
    "notes": 0,
    "parts": [],
    "findings": [],
    "has_comment": False,
    "hint": "",
    "invited": False,
    "kind": "text",
    "latest_on": "",
    "level": "low",
    "no_data": False,
    "on": False,
    "openers": [],
    "overall": "",
    "paused": False,
    "rating": None,
    "reminder": False,
    "repaired": False,
    "same_day": False,
    "scores": [],
    "severe": False,
    "severity": 0,
    "since": "",
    "source": "message",
    "state": "unanswered",
    "talked": "no",
    "tension": "none",
    "therapist": None,
    "therapist_name": None,
    "total": 0,
    "unanswered": 0,
    "unresolved": False,
}


def _client_line(full: bool) -> SimpleNamespace:
    """One row of /clients, with or without a schedule and a latest check-in."""
    client = SimpleNamespace(alias=ALIAS, status="active", unreachable_at=WHEN if full else None)
    schedule = SimpleNamespace(weekday=1, start_time="17:00") if full else None
    latest = SimpleNamespace(due_at=WHEN, status="completed") if full else None
    return SimpleNamespace(
        client=client,
        schedule=schedule,
        latest=latest,
        name=ALIAS if full else "sam~2026-11-02",
        attention=2 if full else None,
        risk=full,
    )


# Texts whose variables mean something else there than the shared name says.
OVERRIDES: dict[str, dict[str, Any]] = {
    "loop.monthly": {"suggested": 3, "held": 1, "improved": 2},
    "digest.reason_withdrawal": {"status": "unanswered"},
}


ONE: dict[str, Any] = {
    **FULL,
    "alerts": 1,
    "answered": 1,
    "changed": 1,
    "checkins": 1,
    "clients": 1,
    "count": 1,
    "days": 1,
    "hours": 1,
    "looks": 1,
    "minutes": 1,
    "months": 1,
    "notes": 1,
    "older": 1,
    "rows": 1,
    "sessions": 1,
    "total": 1,
    "unanswered": 1,
    "counts": {key: 1 for key in FULL["counts"]},
}

OTHER: dict[str, Any] = {
    **FULL,
    "count": 2,
    "kind": "choice",
    "level": "low",
    "months": 0,
    "rating": None,
    "same_day": False,
    "severity": 1,
    "source": "edit",
    "state": "closed",
    "status": "paused",
    "talked": "yes",
    "tension": "a_little",
    "url": "",
    "name": "",
    "therapist": None,
    "invited": False,
    "unanswered": 5,
    "domain": "tasks",
    "on": False,
}

VARIANTS: dict[str, dict[str, Any]] = {"full": FULL, "empty": EMPTY, "one": ONE, "other": OTHER}


@cache
def variables(texts: Texts, locale: str, area: str) -> frozenset[str]:
    """Names an area's template reads from its context (either form).

    Parsed once per area and locale: every text of an area asks, and parsing the area's
    template is most of the cost of checking one text.
    """
    templates = texts.root / "templates" / f"{area}.j2"
    if templates.exists():
        env = texts.i18n_env(locale)
        source = templates.read_text(encoding="utf-8")
    else:
        env = texts.env
        source = (texts.root / locale / f"{area}.j2").read_text(encoding="utf-8")
    names = set(jinja2.meta.find_undeclared_variables(env.parse(source)))
    internal = {"text", "gettext", "ngettext", "pgettext", "npgettext", "_trans"}
    return frozenset(names - set(env.globals) - internal)


def context(texts: Texts, locale: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Representative values for every variable the text's area uses."""
    result = dict(values)
    result["resources"] = load_crisis_resources(locale)
    # The crisis reply with a country first and the rest folded, and with nothing first.
    others = [load_crisis_resources(other) for other in texts.locales if other != locale]
    country = "ES" if values is FULL else None
    result["regional"] = for_country(result["resources"], country, others)
    result["line"] = _client_line(values is not EMPTY)
    result.update(OVERRIDES.get(key, {}))
    return result
