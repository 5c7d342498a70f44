"""Every text in every locale renders as it did before the move to catalogs, or differs on purpose.

tests/data/texts_before/<locale>.json holds every text rendered by the per-locale templates
of before (scripts/texts_before.py, run in that checkout) with the sample values of
text_samples.py. Here the same keys are rendered from today's templates and catalogs with
the same values. A difference must be listed in EXPECTED with its reason: plural forms
where a number meets a noun, and dates, weekdays and numbers that Babel now formats in
each locale's own conventions. Anything else — a lost space, a missing word, a changed
placeholder — fails, with both versions shown.

To read every difference: ``PYTHONPATH=. python tests/unit/test_texts_before_after.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from text_samples import VARIANTS, context

from bot.texts import Texts

TEXTS = Texts()
BEFORE = Path(__file__).resolve().parent.parent / "data" / "texts_before"

DATE = (
    "a date or time now formatted by Babel in the locale's own way (CLDR medium date, 24-hour time)"
)
DAY = "the day of a session now formatted by Babel: full weekday, day and month in words"
PLURAL = "a number meets a noun: singular and plural now follow the locale's plural rule"

# key → why it renders differently now (in some locale or variant). Reviewed one by one.
EXPECTED: dict[str, str] = {
    # "1 months" / "1 meses" / "1 Monaten" became "1 month" / "1 mes" / "1 Monat".
    "admin.client_therapy_ended": PLURAL,
    "admin.end_confirm": PLURAL,
    "admin.end_done": PLURAL,
    # "1 entries", Spanish "6 sesiónes" (a wrong plural) and "1 veces" are gone.
    "rights.mydata_summary": PLURAL,
    # "expires in 1 days", "within 1 hours", "1 of 1 check-ins answered", Spanish
    # "1 anteriores" became singular; "for 1 minutes" too (a session is 10 minutes or more).
    "therapist.invite_ok": PLURAL,
    "therapist.session_too_late": PLURAL,
    "client_view.header": PLURAL,
    "client_view.history": PLURAL,
    # The digest's, the loop's and /export's counts: "low for 1 check-ins", "1 Rückmeldungen
    # danach zeigen", "tus 1 cliente", "Ihrer 1 Klient:innen" became singular.
    "digest.brief_chronic_low": PLURAL,
    "digest.reason_chronic_low": PLURAL,
    "digest.reason_decline": PLURAL,
    "digest.reason_withdrawal": PLURAL,
    "export.caption": PLURAL,
    "loop.not_improving": PLURAL,
    # "Tuesday 24 Nov" → "Tuesday, November 24"; Spanish "del el martes 24/11" (the
    # article twice) → "del martes, 24 de noviembre"; German "Dienstag, 24.11." →
    # "Dienstag, 24. November".
    "checkin.question": DAY,
    "myanswers.checkin": DAY,
    # "Tue 24 Nov 2026, 18:50" → "Tue, Nov 24, 2026, 18:50"; "24/11/2026 18:50" →
    # "mar, 24 nov 2026, 18:50"; "24.11.2026, 18:50" → "Di., 24. Nov. 2026, 18:50".
    "rating.prompt": DATE,
    "safety.alert": DATE,
    "therapist.schedule_set": DATE,
    "therapist.session_recorded": DATE,
    # "24 Nov 2026" → "Nov 24, 2026"; "24/11/2026" → "24 nov 2026"; German unchanged.
    "digest.header": DATE,
    "therapist.client_line": DATE,
}


def before() -> dict[tuple[str, str, str], str]:
    """(locale, key, variant) → the text as it was."""
    result = {}
    for path in sorted(BEFORE.glob("*.json")):
        for key, variants in json.loads(path.read_text(encoding="utf-8")).items():
            for variant, text in variants.items():
                result[(path.stem, key, variant)] = text
    return result


def now(locale: str, key: str, variant: str) -> str:
    values = VARIANTS[variant]
    return TEXTS.render(locale, key, **context(TEXTS, locale, key, values))


def differences() -> dict[tuple[str, str, str], tuple[str, str]]:
    """Every (locale, key, variant) whose text changed, with before and now."""
    found = {}
    for (locale, key, variant), old in before().items():
        try:
            new = now(locale, key, variant)
        except Exception as exc:  # noqa: BLE001 - shown as the difference it is
            new = f"<does not render: {type(exc).__name__}: {exc}>"
        if new != old:
            found[(locale, key, variant)] = (old, new)
    return found


def test_the_fixture_covers_every_text() -> None:
    """Every text of today is in the fixture, and every text of the fixture still exists."""
    old = {(loc, key) for loc, key, _ in before()}
    current = {
        (loc, key) for loc in TEXTS.locales for key in TEXTS.keys(loc) if key in TEXTS.keys("en")
    }
    assert old, "tests/data/texts_before is empty: run scripts/texts_before.py"
    assert not current - old, f"not in the fixture: {sorted(current - old)[:20]}"
    assert not old - current, f"no longer a text: {sorted(old - current)[:20]}"


def test_texts_render_as_before_except_the_reviewed_improvements() -> None:
    """Only the listed keys differ, and each listed key does differ (no stale reasons)."""
    found = differences()
    unexpected = {where: texts for where, texts in found.items() if where[1] not in EXPECTED}
    shown = "\n\n".join(
        f"{loc} {key} [{variant}]\n  before: {old!r}\n  now:    {new!r}"
        for (loc, key, variant), (old, new) in sorted(unexpected.items())[:15]
    )
    assert not unexpected, f"{len(unexpected)} unexpected differences:\n{shown}"
    stale = sorted(set(EXPECTED) - {key for _, key, _ in found})
    assert not stale, f"listed as different but rendering as before: {stale}"


if __name__ == "__main__":
    for (loc, key, variant), (old, new) in sorted(differences().items()):
        reason = EXPECTED.get(key, "UNEXPECTED")
        print(f"{loc} {key} [{variant}] — {reason}\n  before: {old!r}\n  now:    {new!r}")
    sys.exit(0)
