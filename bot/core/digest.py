"""The weekly digest: who needs a relationship conversation, what to say, who is doing well.

``compose_digest`` judges every client and orders them by concern. ``render_digest``
is the triage that fits one phone screen: the counts, a 🆘 group for clients whose
message raised a risk-language alert, one line per client who needs a conversation
and per client to watch, the rest as names on a line. ``render_detail`` is one
conversation-level client's numbers, note and openers, sent when the therapist taps
the client's button under the triage. ``render_alert`` is the short immediate alert
for the severe end. All words come from the ``digest`` and ``conversation``
templates. Pure: no Telegram, no database, no clock.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from markupsafe import Markup

from bot.core.client_text import shown_text
from bot.core.conversation_loop import (
    ConversationLoop,
    LoopSummary,
    SuggestionRecord,
    judge_loop,
    loop_line,
    summary_text,
)
from bot.core.instrument import Instrument
from bot.core.openers import OpenerChoice, choose_opener
from bot.core.strain import (
    AWAY_STATUSES,
    DEFAULT_SETTINGS,
    ClientHistory,
    Reason,
    Severity,
    StrainAssessment,
    StrainSettings,
    assess_strain,
)
from bot.texts import Texts

Group = Literal["risk", "conversation", "watch", "repaired", "steady", "no_checkins", "away"]
GROUPS: tuple[Group, ...] = (
    "risk",
    "conversation",
    "watch",
    "repaired",
    "steady",
    "no_checkins",
    "away",
)
# Listed one line per client in the triage; the other groups as names on one line.
LINE_GROUPS: tuple[Group, ...] = ("risk", "conversation", "watch")
NAME_GROUPS: tuple[Group, ...] = ("repaired", "steady", "no_checkins", "away")

TELEGRAM_MESSAGE_LIMIT = 4096
# A comment is quoted, not reproduced: long ones are cut so one client cannot
# crowd out the rest of the digest. The therapist can ask for the full text.
COMMENT_LIMIT = 500
COMMENTS_PER_CLIENT = 3
# A trend needs a few points before a picture says more than the numbers.
CHART_MIN_CHECKINS = 3
# A triage line names the weightiest finding only: the rest is in the detail.
BRIEF_FINDINGS = 1


@dataclass(frozen=True)
class DigestEntry:
    """One client in the digest with the verdict and where it is listed."""

    history: ClientHistory
    assessment: StrainAssessment
    chart_wanted: bool
    group: Group
    # When the client's latest message in the period raised a risk-language alert.
    risk_at: datetime | None = None
    # An immediate strain alert went to the therapist in the period.
    alerted: bool = False
    # The suggested relationship conversation and what followed (bot.core.conversation_loop).
    loop: ConversationLoop | None = None


@dataclass(frozen=True)
class Digest:
    """A therapist's clients judged at one moment, most concerning first."""

    entries: tuple[DigestEntry, ...]
    now: datetime
    scale_max: int | None
    # The month's conversations, in the one digest a month that carries them.
    summary: LoopSummary | None = None

    def group(self, name: Group) -> tuple[DigestEntry, ...]:
        """The entries listed under one heading, in order of concern."""
        return tuple(entry for entry in self.entries if entry.group == name)


def _group(
    history: ClientHistory,
    assessment: StrainAssessment,
    loop: ConversationLoop | None = None,
    risk: bool = False,
) -> Group:
    """The heading a client is listed under.

    A risk-language alert in the period comes before everything. The conversation loop
    moves a client: a held conversation followed by improvement is good news, so is a
    strain that eased (in the digest that closes it), and a strain the therapist
    answered "Not needed" is only watched.
    """
    if risk:
        return "risk"
    if loop is not None and loop.state in ("repaired", "eased"):
        return "repaired"
    if (
        loop is not None
        and loop.state == "not_needed"
        and assessment.severity > Severity.STEADY
        and history.status not in AWAY_STATUSES
    ):
        return "watch"
    if assessment.severity == Severity.CONVERSATION:
        return "conversation"
    if history.status in AWAY_STATUSES:
        return "away"
    if assessment.severity == Severity.WATCH:
        return "watch"
    if assessment.no_data:
        return "no_checkins"
    if assessment.repaired:
        return "repaired"
    return "steady"


def _weight(reasons: Iterable[Reason]) -> int:
    """How much the findings weigh together: each domain (or rule without one) counts once.

    A domain that tripped several rules (a low answer that is also below the
    baseline) is one finding, so noise on one item cannot outrank a real pattern.
    """
    heaviest: dict[str, int] = {}
    for reason in reasons:
        key = reason.domain or reason.rule
        heaviest[key] = max(heaviest.get(key, 0), int(reason.severity))
    return sum(heaviest.values())


def _concern(entry: DigestEntry) -> tuple[int, int, int, int, int, str, int]:
    """Sort key: a risk alert, severity, an immediate-alert signal, the weight of the reasons."""
    a = entry.assessment
    return (
        -int(entry.risk_at is not None),
        -int(a.severity),
        -int(a.severe or entry.alerted),
        -_weight(a.reasons),
        -int(a.repaired),
        entry.history.alias.casefold(),
        entry.history.client_id,
    )


def with_loop(entry: DigestEntry, loop: ConversationLoop | None) -> DigestEntry:
    """The entry with its conversation loop judged again (and listed where that puts it)."""
    group = _group(entry.history, entry.assessment, loop, entry.risk_at is not None)
    return replace(entry, loop=loop, group=group)


def compose_digest(
    histories: Iterable[ClientHistory],
    instrument: Instrument,
    now: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
    loops: Mapping[int, Sequence[SuggestionRecord]] | None = None,
    *,
    risks: Mapping[int, datetime] | None = None,
    alerted: Collection[int] = (),
) -> Digest:
    """Judge every client and order them by concern.

    ``loops`` holds each client's stored conversation suggestions (by client id); the
    entry then carries where its suggested conversation stands. ``risks``: client id →
    when their latest risk-language alert of the period was raised; ``alerted``: clients
    who were sent an immediate strain alert in the period.
    """
    risks = risks or {}
    entries = []
    for history in histories:
        assessment = assess_strain(history, instrument, now, settings)
        scored = sum(1 for c in history.checkins if c.session_end <= now and c.responded)
        wanted = assessment.severity > Severity.STEADY and scored >= CHART_MIN_CHECKINS
        records = loops.get(history.client_id, ()) if loops else ()
        loop = (
            judge_loop(history, assessment, records, instrument, now, settings) if records else None
        )
        risk_at = risks.get(history.client_id)
        entries.append(
            DigestEntry(
                history,
                assessment,
                wanted,
                _group(history, assessment, loop, risk_at is not None),
                risk_at=risk_at,
                alerted=history.client_id in alerted,
                loop=loop,
            )
        )
    entries.sort(key=_concern)
    tops = [i.scale_max for i in instrument.items if i.core and i.scale_max is not None]
    return Digest(tuple(entries), now, max(tops) if tops else None)


# --- Telegram HTML: measuring and splitting -------------------------------------

_TOKEN = re.compile(r"<[^>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);|[^<&]|&")
# The same tokens with plain text in runs rather than one character at a time: measuring
# needs no cut points, and a run's length is the sum of its characters' lengths.
_RUNS = re.compile(r"<[^>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);|[^<&]+|&")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


def _utf16(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(message: str) -> int:
    """Length of an HTML message after Telegram's entity parsing (tags gone, entities decoded)."""
    length = 0
    for token in _RUNS.findall(message):
        first = token[0]
        if first == "<":
            continue
        length += _utf16(html.unescape(token) if first == "&" else token)
    return length


def _cut_paragraph(paragraph: str, limit: int) -> list[str]:
    """Cut one over-long HTML paragraph into pieces, closing and reopening open tags."""
    pieces: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, opening tag as written)
    current: list[str] = []
    length = 0
    # The last good place to cut: (index into current, length there, open tags there).
    newline_cut: tuple[int, int, list[tuple[str, str]]] | None = None
    space_cut: tuple[int, int, list[tuple[str, str]]] | None = None

    def close(tags: list[tuple[str, str]]) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(tags))

    def reopen(tags: list[tuple[str, str]]) -> list[str]:
        return [opening for _, opening in tags]

    for token in _TOKEN.findall(paragraph):
        if token.startswith("<"):
            match = _TAG_NAME.match(token)
            name = match.group(1).lower() if match else ""
            if token.startswith("</"):
                if stack and stack[-1][0] == name:
                    stack.pop()
            elif name:
                stack.append((name, token))
            current.append(token)
            continue
        width = _utf16(html.unescape(token))
        if length + width > limit:
            cut = next(
                (c for c in (newline_cut, space_cut) if c is not None and c[1] >= limit // 2),
                None,
            )
            if cut is None:
                pieces.append("".join(current) + close(stack))
                current, length = reopen(stack), 0
            else:
                index, at, tags = cut
                pieces.append("".join(current[:index]) + close(tags))
                current = reopen(tags) + current[index:]
                length -= at
            newline_cut = space_cut = None
        current.append(token)
        length += width
        if token == "\n":
            newline_cut = (len(current), length, list(stack))
        elif token == " ":
            space_cut = (len(current), length, list(stack))
    if length:
        pieces.append("".join(current))
    return [piece for piece in pieces if piece.strip()]


def split_html_messages(
    paragraphs: Iterable[str], limit: int = TELEGRAM_MESSAGE_LIMIT
) -> list[str]:
    """Join paragraphs into as few messages as fit Telegram's limit, never breaking a tag."""
    messages: list[str] = []
    current = ""
    length = 0
    for paragraph in paragraphs:
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        width = visible_length(paragraph)
        if width > limit:
            if current:
                messages.append(current)
            *whole, current = _cut_paragraph(paragraph, limit)
            messages.extend(whole)
            length = visible_length(current)
            continue
        if current and length + 2 + width <= limit:
            current += "\n\n" + paragraph
            length += 2 + width
        else:
            if current:
                messages.append(current)
            current, length = paragraph, width
    if current:
        messages.append(current)
    return messages


# --- rendering -------------------------------------------------------------------


def excerpt(comment: str, limit: int = COMMENT_LIMIT) -> str:
    """A client's comment as one clean line, cut at a word with an ellipsis when long."""
    text = shown_text(comment, one_line=True)  # the one sanitiser for a client's words
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" .,;:") + "…"


class _Writer:
    """Renders the digest's pieces in one locale and time zone."""

    def __init__(self, texts: Texts, locale: str, tz: tzinfo) -> None:
        self.texts, self.locale, self.tz = texts, locale, tz
        # A digest says the same small things many times over (a domain's name, a date,
        # an opener), so each distinct text is rendered once per digest.
        self._said: dict[tuple[object, ...], str] = {}
        self._dates: dict[tuple[datetime, timedelta | None], str] = {}

    def plain(self, key: str, **context: object) -> str:
        """A block as plain text (escaped again when inserted)."""
        # With each value's type: 5 and 5.0 are equal keys but read differently.
        said = (key, *((name, type(value), value) for name, value in context.items()))
        try:
            return self._said[said]
        except KeyError:
            text = self._said[said] = self.texts.plain(self.locale, key, **context)
            return text
        except TypeError:  # a value that does not hash (a list): not remembered
            return self.texts.plain(self.locale, key, **context)

    def number(self, value: float | None) -> str:
        """A score with at most one decimal, in the locale's notation."""
        return self.texts.number(self.locale, value)

    def date(self, moment: datetime | None) -> str:
        """A date in the reader's time zone."""
        if moment is None:
            return ""
        # With the offset: in one zone, the two 01:30s of a night the clocks go back
        # compare equal but are different instants.
        instant = (moment, moment.utcoffset())
        text = self._dates.get(instant)
        if text is None:
            local = moment.astimezone(self.tz)
            text = self.texts.date(self.locale, local)
            self._dates[instant] = text
        return text

    def reason(self, reason: Reason) -> str:
        """One finding in plain words with its numbers."""
        domain = reason.domain or ""
        return self.plain(
            f"digest.reason_{reason.rule}",
            label=self.plain("digest.domain", domain=domain),
            value=self.number(reason.value),
            out_of=reason.scale_max or "",
            baseline=self.number(reason.baseline),
            drop=self.number(reason.drop),
            count=reason.count or 0,
            tension=reason.tension or "",
            talked=reason.talked_through or "",
            status=reason.status or "",
            rating=reason.therapist_rating or "",
            date=self.date(reason.since),
            low=self.number(reason.usual_low),
            high=self.number(reason.usual_high),
            window=reason.window or 0,
            higher=(reason.gap or 0.0) > 0,
        )

    def findings(self, reasons: Sequence[Reason]) -> list[str]:
        """The findings worth a line: a domain's baseline line already carries its value."""
        with_baseline = {r.domain for r in reasons if r.rule == "below_baseline"}
        return [
            self.reason(r)
            for r in reasons
            if not (r.rule == "low_item" and r.domain in with_baseline)
        ]

    def short_date(self, moment: datetime | None) -> str:
        """A day and month in the reader's time zone, for the triage."""
        if moment is None:
            return ""
        return self.texts.short_date(self.locale, moment.astimezone(self.tz))

    def brief(self, reason: Reason) -> str:
        """One finding in a few words, for a triage line."""
        return self.plain(
            f"digest.brief_{reason.rule}",
            label=self.plain("digest.domain_short", domain=reason.domain or ""),
            value=self.number(reason.value),
            baseline=self.number(reason.baseline),
            count=reason.count or 0,
            tension=reason.tension or "",
            status=reason.status or "",
            higher=(reason.gap or 0.0) > 0,
        )

    def briefs(self, reasons: Sequence[Reason]) -> list[str]:
        """The weightiest findings in a few words each, one per domain, at most two."""
        seen: set[str] = set()
        said: list[str] = []
        # "Several signs at once" says least on its own: a concrete finding goes first.
        ranked = sorted(reasons, key=lambda r: (-int(r.severity), r.rule == "convergence"))
        for reason in ranked:
            key = reason.domain or reason.rule
            if key in seen or reason.rule in ("talked_through", "within_range"):
                continue
            seen.add(key)
            said.append(self.brief(reason))
        return said[:BRIEF_FINDINGS]

    def openers(
        self,
        assessment: StrainAssessment,
        note: bool = False,
        check_back: bool = False,
        talked_on: datetime | None = None,
    ) -> tuple[list[str], str, OpenerChoice]:
        """Two opening lines fitted to what moved (one naming the check-in, one tentative)
        and how to hold the conversation."""
        choice = choose_opener(assessment, note=note, check_back=check_back, talked_on=talked_on)
        topic = choice.topic
        lines = [
            self.plain(f"conversation.{topic}_checkin", note=note),
            self.plain(f"conversation.{topic}_tentative"),
        ]
        return lines, self.plain(f"conversation.{topic}_hint"), choice


def comments_from(entry: DigestEntry, period_start: datetime) -> datetime:
    """Where the comments quoted for a client begin: the period's start, or the strain's."""
    since = entry.assessment.since
    if since is not None and entry.assessment.severity > Severity.STEADY:
        return min(period_start, since)
    return period_start


def _comments(entry: DigestEntry, start: datetime, end: datetime) -> list[str]:
    """The client's comments from the period (or since the strain began), newest first."""
    start = comments_from(entry, start)
    found = [
        c.comment
        for c in reversed(entry.history.checkins)
        if c.comment and start <= c.session_end <= end
    ]
    return [excerpt(comment) for comment in found[:COMMENTS_PER_CLIENT]]


def _noted(entry: DigestEntry, start: datetime, end: datetime) -> bool:
    """Whether the client left a note in the check-ins the digest speaks about."""
    start = comments_from(entry, start)
    return any(c.has_comment and start <= c.session_end <= end for c in entry.history.checkins)


def _triage_line(w: _Writer, entry: DigestEntry) -> str:
    """One client in the triage: who, what in a few words, since when."""
    a = entry.assessment
    if entry.group == "risk":
        return w.texts.render(
            w.locale,
            "digest.triage_risk",
            alias=entry.history.alias,
            date=w.short_date(entry.risk_at),
        )
    loop = entry.loop
    if loop is not None and loop.state in ("repaired", "eased"):
        # Good news the therapist's conversation led to, or a strain that eased with none
        # on record (a late "talked" is still taken): said in full.
        line = loop_line(w.texts, w.locale, entry.history.alias, loop, w.tz)
        return w.texts.render(w.locale, "digest.triage_talked", line=Markup(line))  # noqa: S704
    state = loop.state if loop is not None else ""
    return w.texts.render(
        w.locale,
        "digest.triage_line",
        alias=entry.history.alias,
        alert=entry.alerted or a.severe,
        what=w.briefs(a.reasons),
        since=w.short_date(a.since),
        loop=state,
        suggested=w.short_date(loop.suggested_at) if loop else "",
        held_on=w.short_date(loop.held_on) if loop else "",
        silent=loop.unanswered_since if loop else 0,
        until=w.short_date(loop.quiet_until) if loop else "",
    )


def _names(entries: Sequence[DigestEntry]) -> list[str]:
    return [entry.history.alias for entry in entries]


def render_digest(
    texts: Texts,
    locale: str,
    digest: Digest,
    therapist_name: str,
    period_start: datetime,
    period_end: datetime,
    tz: tzinfo,
) -> list[str]:
    """The triage as HTML: one message for a caseload of forty (split only if it must be)."""
    w = _Writer(texts, locale, tz)
    counts = group_counts(digest)
    paragraphs = [
        texts.render(
            locale,
            "digest.header",
            therapist_name=therapist_name,
            start=period_start.astimezone(tz),
            end=period_end.astimezone(tz),
            counts=counts,
            clients=len(digest.entries),
        )
    ]
    # The groups follow each other without blank lines: every heading starts with its sign.
    lines: list[str] = []
    for name in LINE_GROUPS:
        entries = digest.group(name)
        if entries:
            lines.append(texts.render(locale, f"digest.group_{name}", count=len(entries)))
            lines.extend(_triage_line(w, entry) for entry in entries)
    # Good news from a held conversation, or an eased one, gets its line; the rest are names.
    talked = [
        e for e in digest.group("repaired") if e.loop and e.loop.state in ("repaired", "eased")
    ]
    lines.extend(_triage_line(w, entry) for entry in talked)
    for name in NAME_GROUPS:
        named = [e for e in digest.group(name) if e not in talked]
        if named:
            key = f"digest.names_{name}"
            lines.append(texts.render(locale, key, names=_names(named), more=bool(talked)))
    if lines:
        paragraphs.append("\n".join(lines))
    if digest.summary is not None:
        paragraphs.append(summary_text(texts, locale, digest.summary, tz))
    if digest.entries:
        paragraphs.append(
            texts.render(locale, "digest.footer", details=bool(detail_entries(digest)))
        )
    return split_html_messages(paragraphs)


def detail_entries(digest: Digest) -> tuple[DigestEntry, ...]:
    """The clients whose detail sits behind a button under the triage."""
    return digest.group("conversation")


def render_detail(
    texts: Texts,
    locale: str,
    entry: DigestEntry,
    period_start: datetime,
    period_end: datetime,
    tz: tzinfo,
) -> list[str]:
    """One client's detail: the numbers, since when, their note, and how to open the
    conversation (openers only at the conversation level, none after a risk alert)."""
    w = _Writer(texts, locale, tz)
    a = entry.assessment
    conversation = a.severity == Severity.CONVERSATION and entry.risk_at is None
    loop = entry.loop
    held = loop is not None and loop.state in ("held", "held_not_improving")
    note = _noted(entry, period_start, period_end)
    talked_on = loop.held_on if loop is not None and held else None
    lines, hint, _choice = w.openers(a, note=note, check_back=held, talked_on=talked_on)
    eased = [r for r in a.repaired_reasons if r.rule != "talked_through"]
    text = texts.render(
        locale,
        "digest.detail",
        alias=entry.history.alias,
        risk=entry.risk_at is not None,
        risk_on=w.date(entry.risk_at),
        since=w.date(a.since),
        severe=a.severe or entry.alerted,
        # Already HTML (rendered from the loop's template).
        loop_text=Markup(_loop_line(w, entry, period_start)),  # noqa: S704
        findings=w.findings(a.reasons),
        eased=w.findings(eased)[:2],
        talked_through=any(r.rule == "talked_through" for r in a.repaired_reasons),
        usual=[w.reason(r) for r in a.usual_notes],
        comments=_comments(entry, period_start, period_end),
        conversation=conversation,
        openers=lines if conversation else [],
        hint=hint if conversation else "",
    )
    return split_html_messages([text, texts.render(locale, "digest.detail_footer")])


def _loop_line(w: _Writer, entry: DigestEntry, period_start: datetime) -> str:
    """The conversation loop's line (where the suggestion stands), or "" when it was made
    in this digest's period (the triage line says so already)."""
    loop = entry.loop
    if loop is None or (loop.state in ("open", "still_open") and loop.suggested_at >= period_start):
        return ""
    return loop_line(w.texts, w.locale, entry.history.alias, loop, w.tz)


def render_alert(
    texts: Texts,
    locale: str,
    alias: str,
    assessment: StrainAssessment,
    tz: tzinfo,
    comment: str | None = None,
) -> str:
    """The short immediate alert for a severe check-in, with the client's note if they left one."""
    w = _Writer(texts, locale, tz)
    lines, hint, _choice = w.openers(assessment, note=bool(comment))
    latest = [r for r in assessment.reasons if r.severity == Severity.CONVERSATION]
    return texts.render(
        locale,
        "digest.alert",
        alias=alias,
        date=w.date(assessment.latest_at),
        findings=w.findings(latest or assessment.reasons)[:3],
        comment=excerpt(comment) if comment else "",
        opener=lines[0],
        hint=hint,
    )


def describe_assessment(
    texts: Texts, locale: str, assessment: StrainAssessment, tz: tzinfo
) -> tuple[list[str], list[str], str]:
    """One client's findings in plain words, fitted openers and a hint (for /client)."""
    w = _Writer(texts, locale, tz)
    lines, hint, _choice = w.openers(assessment)
    return w.findings(assessment.reasons), lines, hint


def chart_labels(texts: Texts, locale: str, alias: str, domains: Sequence[str]) -> dict[str, str]:
    """The words on a trend chart, from the templates: title, legend, domains; the locale
    for its dates."""
    labels = {
        key: texts.plain(locale, f"digest.chart_{key}", alias=alias)
        for key in ("title", "unanswered", "strain", "tension")
    }
    labels["locale"] = locale
    for domain in domains:
        labels[domain] = texts.plain(locale, "digest.domain_short", domain=domain)
    return labels


def group_counts(digest: Digest) -> Mapping[Group, int]:
    """How many clients each heading lists."""
    return {name: len(digest.group(name)) for name in GROUPS}
