"""What a therapist looks up: one client's history (/client) and a CSV export (/export).

Both read only the asking therapist's own clients (every query is bounded by the
therapist's id) and leave an entry in the audit log — who looked at whose data and
when, never the content.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.client_text import shown_text
from bot.core.digest import DigestEntry, describe_assessment, split_html_messages
from bot.core.instrument import Instrument
from bot.core.scoring import CheckinRecord, score_checkin
from bot.core.strain import (
    DEFAULT_SETTINGS,
    ClientHistory,
    Severity,
    StrainSettings,
    assess_strain,
    checkin_severities,
)
from bot.digest import loop as loop_records
from bot.digest.weekly import chart_png, load_histories
from bot.services import Services
from bot.texts import Texts
from storage import audit, repo
from storage.models import Therapist
from storage.states import ClientState

# As many check-ins as the trend chart draws; older ones are in /export.
HISTORY_CHECKINS = 12
# Every comment of a client is decrypted for /client: a history is at most a few hundred.
_ALL_COMMENTS = datetime(1970, 1, 1, tzinfo=UTC)
SEVERITY_NAMES = {
    Severity.STEADY: "steady",
    Severity.WATCH: "watch",
    Severity.CONVERSATION: "conversation",
}
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ClientView:
    """/client's answer: HTML messages, and a trend chart when there is something to draw."""

    texts: list[str]
    chart: bytes | None
    caption: str


def _number(texts: Texts, locale: str, value: float | None) -> str:
    """A score with at most one decimal, in the locale's notation."""
    return texts.number(locale, value)


def _option_code(instrument: Instrument, domain: str, value: int | None) -> str | None:
    """The stable code (e.g. "a_lot") of a choice answer in a domain with a fixed meaning."""
    for item in instrument.items:
        if item.domain == domain and item.kind == "choice" and value is not None:
            option = item.option(value)
            return option.code if option else None
    return None


def _checkin_line(
    services: Services,
    locale: str,
    tz: ZoneInfo,
    record: CheckinRecord,
    severity: Severity | None,
) -> str:
    """One check-in in the history: scores per domain, tension, ratings, the full comment."""
    texts, instrument = services.texts, services.instrument
    comparable = record.instrument_id == instrument.id
    score = score_checkin(instrument, record) if comparable and record.responded else None
    scores = [
        (texts.plain(locale, "digest.domain_short", domain=domain), _number(texts, locale, value))
        for domain, value in (score.domains.items() if score else ())
    ]
    return texts.render(
        locale,
        "client_view.checkin",
        date=texts.date(locale, record.session_end.astimezone(tz)),
        severity=int(severity) if severity is not None else 0,
        answered=record.responded,
        scores=scores,
        tension=_option_code(instrument, "tension", score.tension) if score else None,
        talked=_option_code(instrument, "repair", score.talked_through) if score else None,
        state=record.status,
        rating=record.therapist_rating,
        comment=shown_text(record.comment) if record.comment else record.comment,
        has_comment=record.has_comment,
    )


def render_client_view(
    services: Services,
    therapist: Therapist,
    history: ClientHistory,
    now: datetime,
    loop_lines: Sequence[str] = (),
) -> tuple[list[str], DigestEntry]:
    """The client's state now and their recent check-ins, newest first, as HTML messages."""
    texts, instrument, locale = services.texts, services.instrument, therapist.locale
    tz = ZoneInfo(therapist.timezone)
    assessment = assess_strain(history, instrument, now, services.strain)
    findings, openers, hint = describe_assessment(texts, locale, assessment, tz)
    severities = checkin_severities(history, instrument, services.strain)
    # In the order the sessions took place: a backdated session recorded today sits on its day.
    shown = sorted(
        (c for c in history.checkins if c.session_end <= now), key=lambda c: c.session_end
    )

    def date(moment: datetime | None) -> str:
        return texts.date(locale, moment.astimezone(tz)) if moment else ""

    paragraphs = [
        texts.render(
            locale,
            "client_view.header",
            alias=history.alias,
            status=history.status,
            since=date(history.status_since) if history.status != "active" else "",
            answered=sum(1 for c in shown if c.responded),
            total=len(shown),
            enrolled=date(history.enrolled_at),
        ),
        texts.render(
            locale,
            "client_view.verdict",
            severity=int(assessment.severity),
            since=date(assessment.since),
            repaired=assessment.repaired,
            no_data=assessment.no_data,
            findings=findings,
            openers=openers if assessment.severity == Severity.CONVERSATION else openers[:1],
            hint=hint,
        ),
    ]
    if loop_lines:
        # The suggested conversations, what the therapist and the client said, what followed.
        paragraphs.append("\n".join(loop_lines))
    if shown:
        recent = shown[-HISTORY_CHECKINS:]
        paragraphs.append(
            texts.render(locale, "client_view.history", older=len(shown) - len(recent))
        )
        paragraphs += [
            _checkin_line(services, locale, tz, c, severities.get(c.checkin_id))
            for c in reversed(recent)
        ]
    scored = sum(1 for c in shown if c.responded or c.non_response)
    entry = DigestEntry(history, assessment, chart_wanted=scored >= 1, group="steady")
    return split_html_messages(paragraphs), entry


async def client_view(
    services: Services, therapist: Therapist, alias: str, now: datetime
) -> ClientView | None:
    """One of the therapist's clients by alias, or None when they have no such client."""
    async with services.db.session() as session:
        client = await repo.client_by_alias(session, therapist.id or 0, alias)
        if client is None or client.status == ClientState.DECLINED or client.id is None:
            return None
        histories = await load_histories(
            session,
            services.cipher,
            therapist.id or 0,
            comments_since=_ALL_COMMENTS,
            client_ids=[client.id],
        )
        await audit.record(
            session,
            at=now,
            actor_kind="therapist",
            actor_id=therapist.id,
            action="read_client",
            client_id=client.id,
            detail=audit.counts(checkins=len(histories[0].checkins) if histories else 0),
        )
    if not histories:
        return None
    loop_lines = await loop_records.history_lines(services, therapist, client.id)
    messages, entry = render_client_view(services, therapist, histories[0], now, loop_lines)
    chart = None
    if entry.chart_wanted:
        chart = await chart_png(services, therapist.locale, entry, ZoneInfo(therapist.timezone))
    caption = services.texts.render(
        therapist.locale, "client_view.chart_caption", alias=entry.history.alias
    )
    return ClientView(messages, chart, caption)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows(
    histories: list[ClientHistory],
    instrument: Instrument,
    tz: ZoneInfo,
    now: datetime,
    settings: StrainSettings = DEFAULT_SETTINGS,
) -> list[list[str]]:
    """The header and one row per check-in: identifiers, answers, scores, tension, severity."""
    answerable = [item for item in instrument.items if item.kind != "text"]
    domains = list(dict.fromkeys(item.domain for item in instrument.items if item.kind == "scale"))
    header = [
        "alias",
        "session_end",
        "timezone",
        "checkin",
        "status",
        *(f"item_{item.id}" for item in answerable),
        *(f"domain_{domain}" for domain in domains),
        "overall",
        "tension",
        "talked_through",
        "therapist_rating",
        "comment_left",
        "severity",
    ]
    rows = [header]
    for history in histories:
        severities = checkin_severities(history, instrument, settings)
        for record in history.checkins:
            if record.session_end > now:
                continue
            comparable = record.instrument_id == instrument.id and record.responded
            score = score_checkin(instrument, record) if comparable else None
            severity = severities.get(record.checkin_id)
            rows.append(
                [
                    _cell(history.alias),
                    record.session_end.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    tz.key,
                    str(record.sequence),
                    record.status,
                    *(
                        "" if record.answers.get(item.id) is None else str(record.answers[item.id])
                        for item in answerable
                    ),
                    *(
                        f"{score.domains[d]:.2f}".rstrip("0").rstrip(".")
                        if score and d in score.domains
                        else ""
                        for d in domains
                    ),
                    f"{score.overall:.2f}".rstrip("0").rstrip(".")
                    if score and score.overall is not None
                    else "",
                    (_option_code(instrument, "tension", score.tension) or "") if score else "",
                    (_option_code(instrument, "repair", score.talked_through) or "")
                    if score
                    else "",
                    "" if record.therapist_rating is None else str(record.therapist_rating),
                    "yes" if record.has_comment else "no",
                    SEVERITY_NAMES[severity] if severity is not None else "",
                ]
            )
    return rows


@dataclass
class Export:
    """/export's answer: the CSV file, and how many rows and clients it holds."""

    data: bytes
    rows: int
    clients: int
    # The suggested relationship conversations and their answers (None: there are none).
    conversations: bytes | None = None


async def export_csv(services: Services, therapist: Therapist, now: datetime) -> Export:
    """The therapist's own clients' check-ins as a CSV file (UTF-8 with a BOM for spreadsheets)."""
    async with services.db.session() as session:
        histories = await load_histories(
            session, services.cipher, therapist.id or 0, comments_since=None
        )
        rows = export_rows(
            histories, services.instrument, ZoneInfo(therapist.timezone), now, services.strain
        )
        conversations = await loop_records.export_conversations(
            session, therapist, {h.client_id: h.alias for h in histories}
        )
        clients = len({row[0] for row in rows[1:]})
        await audit.record(
            session,
            at=now,
            actor_kind="therapist",
            actor_id=therapist.id,
            action="export",
            detail=audit.counts(rows=len(rows) - 1, clients=clients),
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return Export(buffer.getvalue().encode("utf-8-sig"), len(rows) - 1, clients, conversations)
