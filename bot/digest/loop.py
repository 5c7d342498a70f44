"""The conversation loop's storage side: suggestions made, answers taken, history and summary.

The judgement is pure (bot.core.conversation_loop); this module reads and writes the
``conversation_suggestion`` rows around it: it makes a suggestion when the digest
first asks for a relationship conversation, marks it shown, closes it once the strain
is repaired or eased, stores the therapist's one-tap answers (checked against the
database: the presser must be the suggestion's therapist, the suggestion current and
the client still there), decides whether a new check-in carries the client item, and
counts the month for the therapist's summary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import callbacks
from bot.core.conversation_loop import (
    ANSWERS,
    CLIENT_ITEM,
    CLIENT_SAID,
    DEFAULT_LOOP,
    REASONS,
    ConversationLoop,
    LoopAnswer,
    LoopSummary,
    Outcome,
    SuggestionRecord,
    closing,
    current_record,
    eased_view,
    judge_loop,
    loop_line,
    needs_suggestion,
    reopened_held,
    summarise,
    takes_late_held,
)
from bot.core.digest import Digest, DigestEntry, with_loop
from bot.core.strain import assess_strain
from bot.services import Services
from bot.texts import Texts
from storage import repo
from storage.models import (
    Answer,
    CheckIn,
    Client,
    ConversationAnswer,
    ConversationSuggestion,
    Therapist,
    TherapySession,
)


def to_record(row: ConversationSuggestion) -> SuggestionRecord:
    """A stored suggestion as the pure judgement reads it."""
    return SuggestionRecord(
        suggestion_id=row.id or 0,
        client_id=row.client_id,
        created_at=row.created_at,
        strain_since=row.strain_since,
        domains=tuple(d for d in row.domains.split(",") if d),
        before=row.before,
        answer=cast(LoopAnswer, row.answer) if row.answer else None,
        answered_at=row.answered_at,
        reason=row.reason,
        first_shown_at=row.first_shown_at,
        closed_at=row.closed_at,
        outcome=cast(Outcome, row.outcome) if row.outcome else None,
        improved_at=row.improved_at,
    )


async def load_loops(
    session: AsyncSession, client_ids: Sequence[int]
) -> dict[int, list[SuggestionRecord]]:
    """Each client's stored suggestions, oldest first."""
    rows = await repo.suggestions_of(session, client_ids)
    return {cid: [to_record(r) for r in found] for cid, found in rows.items() if found}


def _before(entry: DigestEntry) -> float | None:
    """The first dipped domain's score in the latest check-in (the "before" of the numbers)."""
    latest = entry.assessment.latest
    domain = next(iter(entry.assessment.dipped), None)
    if latest is None or domain is None:
        return None
    return latest.domains.get(domain)


async def settle(
    services: Services,
    therapist_id: int,
    digest: Digest,
    loops: Mapping[int, Sequence[SuggestionRecord]],
    now: datetime,
) -> Digest:
    """The digest with its suggestions made, marked shown, and closed where they are over.

    A client needing a relationship conversation with no suggestion standing gets one
    (the block shown in full this time); a repair is reported once and then closed, and
    a strain that eased by itself closes its suggestion.
    """
    entries = list(digest.entries)
    async with services.db.session() as session:
        for index, entry in enumerate(entries):
            client_id = entry.history.client_id
            records = list(loops.get(client_id, ()))
            loop = entry.loop
            if needs_suggestion(entry.assessment, loop):
                old = current_record(records)
                if old is not None:
                    row = await session.get(ConversationSuggestion, old.suggestion_id)
                    if row is not None:
                        row.closed_at, row.outcome = now, "renewed"
                    records = [
                        replace(r, closed_at=now, outcome="renewed")
                        if r.suggestion_id == old.suggestion_id
                        else r
                        for r in records
                    ]
                row = ConversationSuggestion(
                    client_id=client_id,
                    therapist_id=therapist_id,
                    created_at=now,
                    strain_since=entry.assessment.since,
                    domains=",".join(entry.assessment.dipped)[:128],
                    before=_before(entry),
                    first_shown_at=now,
                )
                session.add(row)
                await session.flush()
                records.append(to_record(row))
                loop = judge_loop(
                    entry.history,
                    entry.assessment,
                    records,
                    services.instrument,
                    now,
                    services.strain,
                )
                entries[index] = with_loop(entry, loop)
                continue
            if loop is None:
                continue
            row = await session.get(ConversationSuggestion, loop.suggestion_id)
            if row is None:
                continue
            if row.first_shown_at is None:
                row.first_shown_at = now
            ended = closing(entry.assessment, loop)
            if ended is not None:
                row.closed_at, row.outcome = now, ended[0]
                row.improved_at = ended[1]
                if ended[0] == "eased":
                    # Said as eased, not "still open"; a late "talked" is still taken.
                    entries[index] = with_loop(entry, eased_view(loop))
    return replace(digest, entries=tuple(entries))


# --- the buttons -----------------------------------------------------------------------


def _answers(loop: ConversationLoop) -> tuple[LoopAnswer, ...]:
    """The answers a suggestion takes now: all three, or only "talked" once it eased."""
    return ("held",) if loop.state == "eased" else ANSWERS


def loop_buttons(
    texts: Texts, locale: str, loop: ConversationLoop | None
) -> list[list[tuple[str, str]]]:
    """The one-tap answers for a suggestion, as one row of (label, callback data)."""
    if loop is None or not loop.answerable:
        return []
    return [
        [
            (
                texts.plain(locale, f"loop.button_{answer}"),
                callbacks.conversation(loop.suggestion_id, answer),
            )
            for answer in _answers(loop)
        ]
    ]


def loop_buttons_for(
    texts: Texts, locale: str, alias: str, loop: ConversationLoop | None
) -> list[list[tuple[str, str]]]:
    """The same answers labelled with the client's alias, for a message that lists several."""
    if loop is None or not loop.answerable:
        return []
    return [
        [
            (
                texts.plain(locale, f"loop.button_{answer}_for", alias=alias),
                callbacks.conversation(loop.suggestion_id, answer),
            )
            for answer in _answers(loop)
        ]
    ]


def detail_buttons(texts: Texts, locale: str, entry: DigestEntry) -> list[list[tuple[str, str]]]:
    """Under a client's detail: the answers to their suggested conversation, if it waits for one."""
    if entry.loop is None or entry.risk_at is not None:
        return []
    return loop_buttons(texts, locale, entry.loop)


def loop_keyboard(texts: Texts, locale: str, digest: Digest) -> list[list[tuple[str, str]]]:
    """The answers to each suggested conversation waiting for one: a row per client, its
    buttons labelled with the alias (they sit on one message below the digest's text).
    Clients in the 🆘 group are not asked: their safety comes first."""
    return [
        row
        for e in digest.entries
        if e.loop is not None and e.loop.answerable and e.risk_at is None
        for row in loop_buttons_for(texts, locale, e.history.alias, e.loop)
    ]


# --- the therapist's answer --------------------------------------------------------


@dataclass(frozen=True)
class AnswerResult:
    """What a tap did: its short notice, and the message to show (None: nothing changed)."""

    notice: str
    text: str | None = None
    buttons: list[list[tuple[str, str]]] | None = None
    edit: bool = False  # the text replaces the pressed message (a reason chosen)


async def take_answer(
    services: Services,
    user_id: int,
    suggestion_id: int,
    answer: LoopAnswer,
    reason: str | None,
    via: str = "digest",
) -> AnswerResult:
    """Store a therapist's answer to a suggestion, or refuse it and change nothing.

    Refused: a presser who is not the suggestion's therapist, a suggestion that does
    not exist (forged, or erased with its client), one that is closed (stale), or a
    client who is no longer theirs. A suggestion closed as eased with no conversation on
    record still takes a late "We talked about it" (takes_late_held): it is judged again
    at once, and a repair is told with its numbers and closed as repaired.
    """
    texts = services.texts
    now = services.clock.now()
    async with services.db.session() as session:
        therapist = await repo.therapist_by_user(session, user_id)
        locale = therapist.locale if therapist is not None else "en"
        row = await session.get(ConversationSuggestion, suggestion_id)
        client = await session.get(Client, row.client_id) if row is not None else None
        if (
            therapist is None
            or row is None
            or client is None
            or row.therapist_id != therapist.id
            or client.therapist_id != therapist.id
        ):
            return AnswerResult(texts.plain(locale, "common.button_invalid"))
        late = False
        if row.closed_at is not None:
            found = await repo.suggestions_of(session, [row.client_id])
            records = [to_record(r) for r in found.get(row.client_id, [])]
            if answer != "held" or reason is not None:
                return AnswerResult(texts.plain(locale, "loop.stale"))
            if not takes_late_held(to_record(row), records):
                return AnswerResult(texts.plain(locale, "loop.stale"))
            late = True
        tz = ZoneInfo(therapist.timezone)
        if reason is not None and (row.answer != "not_needed" or answer != "not_needed"):
            # A reason belongs to a "Not needed" already given; anything else is stale.
            return AnswerResult(texts.plain(locale, "loop.stale"))
        stored_reason = None if reason in (None, "none") else reason
        if reason is None:
            row.answer, row.answered_at, row.reason = answer, now, None
        else:
            row.reason = stored_reason
        session.add(
            ConversationAnswer(
                suggestion_id=suggestion_id,
                answer=answer,
                reason=stored_reason,
                answered_at=now,
                via=via,
            )
        )
        alias = repo.shown_as(client)
        until = now + timedelta(days=DEFAULT_LOOP.not_needed_quiet_days)
        context = {
            "alias": alias,
            "date": texts.date(locale, now.astimezone(tz)),
            "reason": texts.plain(locale, "loop.reason", reason=stored_reason or ""),
            "until": texts.date(locale, until.astimezone(tz)),
        }
        notice = texts.plain(locale, "loop.saved_notice")
        if late:
            repaired = await _late_held(services, session, therapist, row, now)
            if repaired is not None:
                line = loop_line(texts, locale, alias, repaired, tz)
                text = texts.render(locale, "loop.saved_late", alias=alias)
                text += "\n\n" + texts.render(locale, "digest.triage_talked", line=Markup(line))  # noqa: S704
                return AnswerResult(notice, text)
        if answer == "not_needed" and reason is None:
            buttons = [
                [
                    (
                        texts.plain(locale, "loop.button_reason", reason=code),
                        callbacks.conversation(suggestion_id, "not_needed", code),
                    )
                ]
                for code in (*REASONS, "none")
            ]
            text = texts.render(locale, "loop.saved_not_needed", **context)
            text += "\n\n" + texts.render(locale, "loop.ask_reason", alias=alias)
            return AnswerResult(notice, text, buttons)
        key = {"held": "saved_held", "not_yet": "saved_not_yet", "not_needed": "saved_not_needed"}
        return AnswerResult(
            notice, texts.render(locale, f"loop.{key[answer]}", **context), edit=reason is not None
        )


async def _late_held(
    services: Services,
    session: AsyncSession,
    therapist: Therapist,
    row: ConversationSuggestion,
    now: datetime,
) -> ConversationLoop | None:
    """An eased suggestion answered "We talked about it" late, judged again at once: the
    loop when the check-ins since say it was a repair (the row closed as repaired), else
    None (the row open again, held, waiting for the check-ins to tell)."""
    from bot.digest.weekly import load_histories  # imports this module: read when needed

    record = reopened_held(to_record(row), row.answered_at or now)
    row.closed_at, row.outcome, row.improved_at = None, None, None
    histories = await load_histories(
        session,
        services.cipher,
        therapist.id or 0,
        comments_since=None,
        client_ids=[row.client_id],
    )
    if not histories:
        return None
    history = histories[0]
    assessment = assess_strain(history, services.instrument, now, services.strain)
    loop = judge_loop(history, assessment, [record], services.instrument, now, services.strain)
    if loop is None or loop.state != "repaired":
        return None
    row.closed_at, row.outcome, row.improved_at = now, "repaired", loop.improved_at
    return loop


# --- after /session ------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """The question after /session for a client with a suggested conversation standing."""

    text: str
    buttons: list[list[tuple[str, str]]]


async def session_offer(
    services: Services, therapist: Therapist, client_id: int, now: datetime
) -> Offer | None:
    """ "Did you talk about how things are going between you?" with the three answers, or None."""
    from bot.digest.weekly import load_histories  # imports this module: read when needed

    async with services.db.session() as session:
        loops = await load_loops(session, [client_id])
        if not loops or current_record(loops[client_id]) is None:
            return None
        histories = await load_histories(
            session, services.cipher, therapist.id or 0, comments_since=None, client_ids=[client_id]
        )
    if not histories:
        return None
    history = histories[0]
    assessment = assess_strain(history, services.instrument, now, services.strain)
    loop = judge_loop(
        history, assessment, loops[client_id], services.instrument, now, services.strain
    )
    if loop is None or not loop.answerable or loop.answer == "held":
        return None
    locale = therapist.locale
    return Offer(
        services.texts.render(locale, "loop.ask", alias=history.alias),
        loop_buttons(services.texts, locale, loop),
    )


# --- what the practice learns -------------------------------------------------------


async def _client_confirmed(
    session: AsyncSession, rows: Sequence[ConversationSuggestion]
) -> dict[int, list[tuple[datetime, str]]]:
    """Per suggestion, the client's answers to the item in check-ins after it was made."""
    client_ids = sorted({r.client_id for r in rows})
    if not client_ids:
        return {}
    found = await session.exec(
        select(CheckIn.client_id, TherapySession.ended_at, Answer.value)
        .join(Answer, col(Answer.checkin_id) == col(CheckIn.id))
        .join(TherapySession, col(TherapySession.id) == col(CheckIn.session_id))
        .where(col(CheckIn.client_id).in_(client_ids))
        .where(Answer.item_id == CLIENT_ITEM)
        .where(col(Answer.value).is_not(None))
    )
    answers: dict[int, list[tuple[datetime, int]]] = {}
    for client_id, ended, value in found.all():
        if value is not None:
            answers.setdefault(client_id, []).append((ended, value))
    result: dict[int, list[tuple[datetime, str]]] = {}
    for row in rows:
        later = sorted(
            (ended, CLIENT_SAID[value])
            for ended, value in answers.get(row.client_id, [])
            if ended >= row.created_at
            and (row.closed_at is None or ended <= row.closed_at)
            and value in CLIENT_SAID
        )
        result[row.id or 0] = later
    return result


async def monthly_summary(
    services: Services, therapist_id: int, month_start: datetime, month_end: datetime
) -> LoopSummary:
    """The therapist's suggestions made in the month, counted from the stored records."""
    async with services.db.session() as session:
        rows = await repo.suggestions_of_therapist(session, therapist_id, month_start, month_end)
        said = await _client_confirmed(session, rows)
    client_held = [
        sid for sid, answers in said.items() if any(w in ("yes", "partly") for _, w in answers)
    ]
    return summarise([to_record(r) for r in rows], month_start, month_end, client_held)


def _date(services: Services, locale: str, tz: ZoneInfo, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return services.texts.date(locale, moment.astimezone(tz))


async def history_lines(services: Services, therapist: Therapist, client_id: int) -> list[str]:
    """/client's paragraph on the loop: every suggestion, its answer, the client's, the end."""
    locale, tz, texts = therapist.locale, ZoneInfo(therapist.timezone), services.texts
    async with services.db.session() as session:
        rows = (await repo.suggestions_of(session, [client_id])).get(client_id, [])
        said = await _client_confirmed(session, rows)
    if not rows:
        return [
            texts.render(locale, "loop.history_title"),
            texts.render(locale, "loop.history_none"),
        ]
    lines = [texts.render(locale, "loop.history_title")]
    for row in reversed(rows):
        record = to_record(row)
        client_said = said.get(row.id or 0, [])
        lines.append(
            texts.render(
                locale,
                "loop.history_line",
                suggested=_date(services, locale, tz, row.created_at),
                domain=texts.plain(locale, "digest.domain", domain=record.domain)
                if record.domain
                else "",
                answer=row.answer or "",
                answered_on=_date(services, locale, tz, row.answered_at),
                reason=texts.plain(locale, "loop.reason", reason=row.reason or ""),
                client_said=client_said[-1][1] if client_said else "",
                outcome=row.outcome or "",
                closed_on=_date(services, locale, tz, row.closed_at),
            )
        )
    return lines


EXPORT_HEADER = [
    "alias",
    "suggested_at",
    "timezone",
    "domains",
    "before",
    "answer",
    "answered_at",
    "reason",
    "client_said",
    "first_shown_at",
    "closed_at",
    "outcome",
    "improved_at",
    "answers",
]


async def export_conversations(
    session: AsyncSession, therapist: Therapist, aliases: Mapping[int, str]
) -> bytes | None:
    """The therapist's conversation records as CSV (UTF-8 with a BOM), None when there are none.

    ``answers`` lists every tap in order ("held@2026-05-12 10:00; not_yet@…"), so a
    changed answer keeps its history.
    """
    tz = ZoneInfo(therapist.timezone)
    client_ids = list(aliases)
    rows = [r for found in (await repo.suggestions_of(session, client_ids)).values() for r in found]
    if not rows:
        return None
    rows.sort(key=lambda r: (r.created_at, r.id or 0))
    taps = await repo.answers_to_suggestions(session, [r.id or 0 for r in rows])
    said = await _client_confirmed(session, rows)

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    table = [EXPORT_HEADER]
    for row in rows:
        client_said = said.get(row.id or 0, [])
        table.append(
            [
                _cell(aliases.get(row.client_id, "")),
                when(row.created_at),
                tz.key,
                row.domains,
                "" if row.before is None else f"{row.before:.2f}".rstrip("0").rstrip("."),
                row.answer or "",
                when(row.answered_at),
                row.reason or "",
                client_said[-1][1] if client_said else "",
                when(row.first_shown_at),
                when(row.closed_at),
                row.outcome or "",
                when(row.improved_at),
                "; ".join(
                    f"{t.answer}{'/' + t.reason if t.reason else ''}@{when(t.answered_at)}"
                    for t in taps
                    if t.suggestion_id == row.id
                ),
            ]
        )
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(table)
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text (an alias is the only text here)."""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
