"""A small trend chart of a client's recent check-ins, as PNG bytes for the digest.

It says what the digest's words say: the legend names each line with the digest's
own short domain words, a check-in with tension reported is marked (▲ along the top,
filled for "a lot"), and an unanswered check-in is a grey column with × along the
top, above the scale, so it cannot be read as a score of 1. The caption (template
``digest.chart_caption``) explains the shading.

Drawn with matplotlib's object API on an Agg canvas: no pyplot and no global state
is touched, so it is safe in a worker thread (the caller runs it with
``asyncio.to_thread``). matplotlib is imported when the first chart is drawn, not with
this module: its import costs most of a second of CPU, which every command-line run
and every bot start would otherwise pay without drawing anything. All words on the chart
come in through ``locale_labels`` (see ``bot.core.digest.chart_labels``); its "locale"
says how Babel writes the dates.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import tzinfo
from typing import TYPE_CHECKING

from bot.core.instrument import Instrument
from bot.core.scoring import score_checkin
from bot.core.strain import ClientHistory, StrainAssessment
from bot.texts import Formats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CHECKINS = 12
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
STRAIN_SHADE = "#F4C7C3"
GAP_SHADE = "#E6E6E6"
TENSION_COLOUR = "#D55E00"
MARK_GREY = "#777777"
# 6.4 × 3.6 in at 110 dpi: about 700 px wide, sharp on a phone, well under 120 KB.
SIZE_INCHES = (6.4, 3.6)
DPI = 110


def _safe(text: str) -> str:
    """Text shown literally: a "$" would otherwise switch matplotlib to math mode."""
    return text.replace("$", r"\$")


def render_trend_chart(
    history: ClientHistory,
    instrument: Instrument,
    assessment: StrainAssessment | None,
    locale_labels: Mapping[str, str],
    tz: tzinfo,
) -> bytes:
    """PNG of each core domain over the last check-ins, strained ones shaded, gaps marked.

    Without an assessment (the client's own chart) nothing is shaded as strain.
    """
    figure = trend_figure(history, instrument, assessment, locale_labels, tz)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def trend_figure(
    history: ClientHistory,
    instrument: Instrument,
    assessment: StrainAssessment | None,
    locale_labels: Mapping[str, str],
    tz: tzinfo,
) -> Figure:
    """The chart as a matplotlib figure (what ``render_trend_chart`` saves)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    checkins = [
        c
        for c in sorted(history.checkins, key=lambda c: c.sequence)
        if c.instrument_id == instrument.id and (c.responded or c.non_response)
    ][-MAX_CHECKINS:]
    core = [item for item in instrument.items if item.core and item.kind == "scale"]
    domains = list(dict.fromkeys(item.domain for item in core))
    low = min((item.scale_min or 0 for item in core), default=1)
    high = max((item.scale_max or 0 for item in core), default=5)
    strained = set(assessment.strained_checkins) if assessment is not None else set()
    scores = [score_checkin(instrument, c) for c in checkins]
    # Event marks sit in a strip above the top of the scale: never where a score would be.
    strip = high + 0.45

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = list(range(len(checkins)))
    tension_shown = False
    for x, record, score in zip(xs, checkins, scores, strict=True):
        if record.checkin_id in strained:
            axes.axvspan(x - 0.45, x + 0.45, color=STRAIN_SHADE, zorder=0)
        elif record.non_response:
            axes.axvspan(x - 0.45, x + 0.45, color=GAP_SHADE, zorder=0)
        if record.non_response:
            axes.plot([x], [strip], marker="x", color=MARK_GREY, markersize=8, zorder=3)
        elif score.tension:
            tension_shown = True
            axes.plot(
                [x],
                [strip],
                marker="^",
                markersize=8,
                color=TENSION_COLOUR,
                markerfacecolor=TENSION_COLOUR if score.tension >= 2 else "white",
                zorder=3,
            )

    # Lines that sit on top of each other (all fives) are nudged apart a little.
    spread = 0.05 * (high - low) / 4
    for index, domain in enumerate(domains):
        offset = (index - (len(domains) - 1) / 2) * spread
        ys = [s.domains[domain] + offset if domain in s.domains else math.nan for s in scores]
        axes.plot(
            xs,
            ys,
            marker="o",
            markersize=5,
            linewidth=2,
            color=COLOURS[index % len(COLOURS)],
            label=_safe(locale_labels.get(domain, domain)),
            zorder=2,
        )

    # Day and month in the reader's language (Babel): "Nov 24", "24 nov", "24. Nov.".
    formats = Formats(locale_labels.get("locale", "en"))
    axes.set_xticks(xs, [formats.short_date(c.session_end.astimezone(tz)) for c in checkins])
    axes.tick_params(axis="x", labelsize=9, rotation=45 if len(xs) > 8 else 0)
    axes.set_xlim(-0.6, max(len(xs) - 0.4, 0.6))
    axes.set_ylim(low - 0.4, high + 0.7)
    axes.set_yticks(range(low, high + 1))
    axes.tick_params(axis="y", labelsize=10)
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(_safe(locale_labels.get("title", history.alias)), fontsize=12, loc="left")

    handles = [*axes.get_legend_handles_labels()[0]]
    if assessment is not None:
        handles.append(
            Patch(color=STRAIN_SHADE, label=_safe(locale_labels.get("strain", "strain")))
        )
    if tension_shown:
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                color=TENSION_COLOUR,
                linestyle="none",
                label=_safe(locale_labels.get("tension", "tension")),
            )
        )
    handles.append(
        Line2D(
            [],
            [],
            marker="x",
            color=MARK_GREY,
            linestyle="none",
            label=_safe(locale_labels.get("unanswered", "unanswered")),
        )
    )
    axes.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2 if len(xs) <= 8 else -0.28),
        ncol=min(len(handles), 3),
        fontsize=9,
        frameon=False,
    )
    figure.tight_layout()
    return figure
