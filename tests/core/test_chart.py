"""The trend chart: a small PNG that copes with gaps, one point, or none."""

from __future__ import annotations

import dataclasses
import threading
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib.axes import Axes
from scenarios import MISSED, Visit, build_history, by_name, c, steady

from bot.core.chart import render_trend_chart, trend_figure
from bot.core.digest import chart_labels
from bot.core.instrument import get_instrument
from bot.core.scoring import CheckinRecord
from bot.core.strain import ClientHistory, assess_strain
from bot.texts import Texts

PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 120 * 1024
TZ = ZoneInfo("America/Mexico_City")


def chart(history: ClientHistory, locale: str = "en") -> bytes:
    instrument = get_instrument()
    checkins: list[CheckinRecord] = list(history.checkins)
    now = max((c.session_end for c in checkins), default=history.enrolled_at)
    assessment = assess_strain(history, instrument, now)
    domains = [item.domain for item in instrument.items if item.core]
    labels = chart_labels(Texts(), locale, history.alias, domains)
    return render_trend_chart(history, instrument, assessment, labels, TZ)


@pytest.mark.parametrize(
    "visits",
    [
        [*steady(10), c(2, 4, 5, 5, tension=2, talked=0), MISSED, MISSED, c(5, 5, 5, 5)],
        [c(4, 4, 4, 4)],
        [MISSED, c(4, 3, 4, 4), MISSED],
        [],
        [MISSED, MISSED],
        [c(5, None, None, None, status="partial")],
    ],
    ids=["long-with-gaps", "one-point", "gaps-around-one", "none", "only-gaps", "one-domain"],
)
def test_chart_is_a_small_png(visits: list[Visit]) -> None:
    png = chart(build_history(visits, alias="a $x$ <b>"))
    assert png.startswith(PNG)
    assert len(png) <= MAX_BYTES


def test_chart_shows_the_last_twelve_checkins_and_is_deterministic() -> None:
    history = build_history(steady(30, 4, 5, 4, 5))
    last_twelve = dataclasses.replace(history, checkins=history.checkins[-12:])
    assert chart(history) == chart(history)
    assert chart(history) == chart(last_twelve)


def test_chart_in_spanish() -> None:
    scenario = by_name("steep_decline")
    assert chart(scenario.history(), "es").startswith(PNG)


def test_chart_is_safe_from_worker_threads() -> None:
    history = by_name("withdrawal_after_strain").history()
    results: list[bytes] = []

    def draw() -> None:
        results.append(chart(history))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all(png.startswith(PNG) for png in results)


def figure_of(history: ClientHistory, locale: str = "en") -> Axes:
    instrument = get_instrument()
    now = max(c.session_end for c in history.checkins)
    assessment = assess_strain(history, instrument, now)
    domains = [item.domain for item in instrument.items if item.core]
    labels = chart_labels(Texts(), locale, history.alias, domains)
    return trend_figure(history, instrument, assessment, labels, TZ).axes[0]


def legend_of(axes: Axes) -> list[str]:
    legend = axes.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


@pytest.mark.parametrize("locale", ["en", "es", "de"])
def test_the_legend_uses_the_digests_domain_words(locale: str) -> None:
    texts = Texts()
    history = build_history([*steady(6), c(2, 4, 5, 5, tension=2, talked=0), MISSED])
    legend = legend_of(figure_of(history, locale))
    for domain in ("bond", "goals", "tasks", "openness"):
        word = texts.plain(locale, "digest.domain_short", domain=domain)
        assert word in legend
        # The digest's line about that domain starts with the same words.
        assert texts.plain(locale, "digest.domain", domain=domain).startswith(word)
    assert texts.plain(locale, "digest.chart_tension") in legend
    assert texts.plain(locale, "digest.chart_unanswered") in legend


def test_unanswered_and_tension_are_marked_above_the_scale_never_as_a_score() -> None:
    history = build_history([*steady(6), c(2, 4, 5, 5, tension=2, talked=0), MISSED, MISSED])
    axes = figure_of(history)

    def heights(marker: str) -> list[float]:
        return [
            float(y)
            for line in axes.get_lines()
            if line.get_marker() == marker
            for y in np.asarray(line.get_ydata(), dtype=float)
            if not np.isnan(y)
        ]

    assert len(heights("x")) == 2 and all(y > 5 for y in heights("x"))
    assert heights("^") and all(y > 5 for y in heights("^"))
    # Scores stay on the scale (allowing the small nudge that keeps equal lines apart).
    assert heights("o") and all(0.9 <= y <= 5.1 for y in heights("o"))


def test_no_tension_no_tension_mark() -> None:
    legend = legend_of(figure_of(build_history(steady(6))))
    assert Texts().plain("en", "digest.chart_tension") not in legend
