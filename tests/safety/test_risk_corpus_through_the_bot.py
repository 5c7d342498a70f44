"""The labelled risk corpus, typed into the running bot: every risk line gets the crisis
reply, and the figures (recall, false alarms) are printed per language.

tests/core/test_risk.py measures the detector alone; this test measures the wiring
around it: that no message of the corpus slips past the handler that answers.
"""

from __future__ import annotations

import csv
import html
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from story import FAST_PACE, new_person

from bot.offline.testbed import Testbed
from bot.safety import crisis_text
from bot.texts import pick_locale

CORPUS = Path(__file__).resolve().parents[1] / "data" / "risk_corpus.tsv"


def _corpus() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


async def test_every_risk_line_gets_the_crisis_reply(tmp_path: Path, sqlite_template: Path) -> None:
    """Recall through the bot is 100 %; false alarms are counted and printed."""
    rows = _corpus()
    assert len(rows) >= 150
    assert {r["lang"] for r in rows} >= {"en", "es"}
    # One backend is enough: the reply is decided before any database work.
    path = tmp_path / "corpus.db"
    shutil.copy(sqlite_template, path)
    bed = Testbed(
        f"sqlite+aiosqlite:///{path}",
        start=datetime(2026, 6, 2, 7, tzinfo=UTC),
        # Lift the bot's own pacing: the test measures the wiring, not the pace.
        **FAST_PACE,
    )
    await bed.start()
    try:
        missed: list[str] = []
        hits: Counter[tuple[str, str]] = Counter()
        totals: Counter[tuple[str, str]] = Counter()
        texts = bed.services.texts
        # The first line of the crisis reply in each language, as the person sees it.
        markers = {
            lang: html.unescape(crisis_text(texts, pick_locale(lang, texts.locales))).split("\n")[0]
            for lang in {r["lang"] for r in rows}
        }
        for row in rows:
            person = new_person(bed, "Robin", row["lang"])
            before = len(person.messages())
            await person.says(row["text"])
            replies = [m.text or "" for m in person.messages()[before:]]
            flagged = any(text.startswith(markers[row["lang"]]) for text in replies)
            totals[(row["lang"], row["label"])] += 1
            hits[(row["lang"], row["label"])] += flagged
            if row["label"] == "risk" and not flagged:
                missed.append(f"{row['lang']}/{row['category']}")
        assert not bed.standin.internal_errors
    finally:
        await bed.stop()

    lines = ["risk corpus through the bot:"]
    for lang in sorted({lang for lang, _ in totals}):
        risk, safe = totals[(lang, "risk")], totals[(lang, "safe")]
        lines.append(
            f"  {lang}: recall {hits[(lang, 'risk')]}/{risk}"
            f" = {100 * hits[(lang, 'risk')] / max(risk, 1):.1f} %,"
            f" false alarms {hits[(lang, 'safe')]}/{safe}"
            f" = {100 * hits[(lang, 'safe')] / max(safe, 1):.1f} %"
        )
    risk_total = sum(n for (_, label), n in totals.items() if label == "risk")
    safe_total = sum(n for (_, label), n in totals.items() if label == "safe")
    false_alarms = sum(n for (_, label), n in hits.items() if label == "safe")
    lines.append(
        f"  all: recall {risk_total - len(missed)}/{risk_total}, "
        f"false alarms {false_alarms}/{safe_total} = {100 * false_alarms / safe_total:.1f} %"
    )
    print("\n".join(lines))
    assert not missed, f"risk lines without a crisis reply (categories): {missed}"
    # Low, not zero: a false alarm costs a kind message; a miss may cost a life.
    assert false_alarms / safe_total < 0.10


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
