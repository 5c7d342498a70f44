"""The database schema (SQLModel). The database is the source of truth for everything scheduled.

Times are stored in UTC (see storage.types.UTCDateTime) and shown in each person's
time zone. Free text is never stored in plain form: columns ending in
``_ciphertext`` hold AES-GCM tokens bound to their row (storage.crypto).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint, event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlmodel import Field, SQLModel

from storage.states import CheckinState, ClientState, OutboxState, StateType
from storage.types import UTCDateTime

metadata = SQLModel.metadata


class Therapist(SQLModel, table=True):
    """A therapist using the bot; registered through a single-use invitation."""

    __tablename__ = "therapist"

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    chat_id: int = Field(sa_type=BigInteger)
    name: str = Field(max_length=128)
    locale: str = Field(default="en", max_length=8)
    locale_chosen: bool = False
    timezone: str = Field(default="UTC", max_length=64)
    digest_weekday: int = 0
    digest_time: str = Field(default="08:00", max_length=5)
    rates_sessions: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by the admin (`alliance-checkin therapist deactivate`): no check-ins for their
    # clients, no digests, commands refused; cleared by `therapist reactivate`.
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def alias_key(alias: str) -> str:
    """The form in which aliases are compared: Unicode-normalised (NFKC) and case-folded."""
    return unicodedata.normalize("NFKC", alias).casefold()


def _alias_key_on_insert(context: DefaultExecutionContext) -> str:
    """The key of an inserted row's alias, for inserts that do not name it (bulk inserts)."""
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return alias_key(parameters["alias"])


class Client(SQLModel, table=True):
    """A client of one therapist, known to the therapist by an alias.

    ``alias_key`` is the alias as aliases are compared (storage.models.alias_key: NFKC and
    case-folded), so "Alex" and "alex" cannot both exist for one therapist even when two
    invitations race. It follows ``alias`` by itself: set on construction and on every
    change of ``alias`` (see _keep_alias_key), and filled in by bulk inserts that omit it.
    An alias may be given again once its client has left: the former record keeps its
    history and its person, and its key is released as "<key>~<date it left>" (a form no
    alias can produce), so the alias itself is not unique (bot.practice.enrolment).

    ``telegram_user_id`` is the person. It is not unique: someone who left one therapist and
    joined another keeps both records; at most one of them takes part at a time.
    """

    __tablename__ = "client"
    __table_args__ = (
        Index("ix_client_therapist_alias", "therapist_id", "alias"),
        UniqueConstraint("therapist_id", "alias_key", name="uq_client_alias_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    therapist_id: int = Field(foreign_key="therapist.id", index=True)
    alias: str = Field(max_length=32)
    # Case folding may lengthen an alias (ß → ss; up to three characters for one).
    alias_key: str = Field(max_length=128, sa_column_kwargs={"default": _alias_key_on_insert})
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    # invited → active ⇄ paused → stopped; declined when the invitation was turned down
    # (storage.states has every move).
    status: ClientState = Field(
        default=ClientState.INVITED, sa_type=StateType(ClientState), index=True
    )
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locale: str = Field(default="en", max_length=8)
    locale_chosen: bool = False
    timezone: str = Field(default="UTC", max_length=64)
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_version: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@event.listens_for(Client.alias, "set")
def _keep_alias_key(target: Client, value: str, _old: object, _initiator: object) -> None:
    """Whenever a client's alias is set (created or renamed), its key follows."""
    target.alias_key = alias_key(value)


class Invitation(SQLModel, table=True):
    """A single-use, expiring invitation; only a hash of its token is stored."""

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=16)  # "therapist" | "client"
    name: str | None = Field(default=None, max_length=128)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TherapySession(SQLModel, table=True):
    """A therapy session that has ended; each one yields exactly one check-in."""

    __tablename__ = "therapy_session"
    __table_args__ = (UniqueConstraint("client_id", "ended_at", name="uq_session_end"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    ended_at: datetime = Field(sa_type=UTCDateTime)
    source: str = Field(default="manual", max_length=16)  # "manual" | "schedule"
    created_at: datetime = Field(sa_type=UTCDateTime)


class WeeklySchedule(SQLModel, table=True):
    """A recurring weekly session in the therapist's time zone."""

    __tablename__ = "weekly_schedule"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", unique=True)
    weekday: int
    start_time: str = Field(max_length=5)
    duration_minutes: int
    timezone: str = Field(max_length=64)
    active: bool = True
    # End of the next occurrence not yet turned into a session row.
    next_end_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CheckIn(SQLModel, table=True):
    """The questions sent after one session, answered item by item in one message."""

    __tablename__ = "checkin"
    __table_args__ = (Index("ix_checkin_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    session_id: int = Field(foreign_key="therapy_session.id", unique=True)
    instrument_id: str = Field(max_length=64)
    sequence: int
    # Item ids fixed when the check-in is created, comma-separated, in asking order.
    items: str = Field(max_length=512)
    # scheduled → queued → sent → answering → completed; or expired / cancelled
    # (storage.states has every move).
    status: CheckinState = Field(default=CheckinState.SCHEDULED, sa_type=StateType(CheckinState))
    due_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    reminder_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def item_ids(self) -> list[str]:
        """The items of this check-in in asking order."""
        return [part for part in self.items.split(",") if part]


class Answer(SQLModel, table=True):
    """One answer, stored the moment it is given."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("checkin_id", "item_id", name="uq_answer_item"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    item_id: str = Field(max_length=24)
    value: int | None = None
    skipped: bool = False
    text_ciphertext: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    answered_at: datetime = Field(sa_type=UTCDateTime)


class AnswerChange(SQLModel, table=True):
    """An answer the client took back with "Back" to change it: what it was and when.

    The check-in keeps only the final answer in ``answer``; this row keeps the record
    that it was changed (a mis-tap corrected is not a clinical signal, and neither the
    client nor the therapist should have to wonder which answer counts).
    """

    __tablename__ = "answer_change"

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    item_id: str = Field(max_length=24)
    value: int | None = None
    skipped: bool = False
    answered_at: datetime = Field(sa_type=UTCDateTime)
    changed_at: datetime = Field(sa_type=UTCDateTime)


class SessionRating(SQLModel, table=True):
    """The therapist's own optional rating of a session."""

    __tablename__ = "session_rating"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="therapy_session.id", unique=True)
    value: int
    created_at: datetime = Field(sa_type=UTCDateTime)


class ConversationSuggestion(SQLModel, table=True):
    """A relationship conversation the digest suggested for a client, and what became of it.

    One row per suggestion (bot.core.conversation_loop). ``answer`` is the therapist's
    current one-tap answer (held / not_yet / not_needed) with a fixed ``reason`` code
    for "not needed" (no free text is kept); every tap is also kept in
    ``conversation_answer``. ``closed_at``/``outcome`` say how it ended (repaired,
    eased, renewed); closed rows stay as the client's history.
    """

    __tablename__ = "conversation_suggestion"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    therapist_id: int = Field(foreign_key="therapist.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    level: str = Field(default="conversation", max_length=16)
    strain_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    domains: str = Field(default="", max_length=128)  # comma-separated, first is the numbers'
    before: float | None = None
    answer: str | None = Field(default=None, max_length=16)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=16)
    first_shown_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)
    improved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConversationAnswer(SQLModel, table=True):
    """Each one-tap answer given to a suggestion, in order (a changed answer keeps the first)."""

    __tablename__ = "conversation_answer"

    id: int | None = Field(default=None, primary_key=True)
    suggestion_id: int = Field(foreign_key="conversation_suggestion.id", index=True)
    answer: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=16)
    answered_at: datetime = Field(sa_type=UTCDateTime)
    via: str = Field(default="digest", max_length=16)  # "digest" | "session"


class OutboxMessage(SQLModel, table=True):
    """A message the bot initiates (check-in, reminder, digest, alert), sent through one path."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        # The claim's "oldest waiting message of its chat" check (bot.sending.outbox).
        Index("ix_outbox_chat_status", "chat_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    chat_id: int = Field(sa_type=BigInteger)
    dedupe_key: str = Field(max_length=128, unique=True)
    payload_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    therapist_id: int | None = Field(default=None, foreign_key="therapist.id", index=True)
    # pending → claimed → sending → sent; retries go back to pending; failed (403) or
    # parked (kept failing). "resending": taken over after a crash mid-send (bot.sending.sender);
    # storage.states has every move.
    status: OutboxState = Field(default=OutboxState.PENDING, sa_type=StateType(OutboxState))
    attempts: int = 0
    not_before: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)


class DigestRun(SQLModel, table=True):
    """One weekly digest per therapist per scheduled slot (unique: exactly once)."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("therapist_id", "slot_at", name="uq_digest_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    therapist_id: int = Field(foreign_key="therapist.id", index=True)
    slot_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """An immediate alert to a therapist; at most one per check-in and kind."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("client_id", "dedupe_key", name="uq_alert_key"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    kind: str = Field(max_length=16)  # "strain" | "risk"
    dedupe_key: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who read, exported or erased what, and when — never the content."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_kind: str = Field(max_length=16)
    actor_id: int | None = None
    action: str = Field(max_length=32)
    client_id: int | None = Field(default=None, index=True)
    detail: str | None = Field(default=None, max_length=200)


class ProcessedUpdate(SQLModel, table=True):
    """Update ids taken by a worker, so a redelivered update has one effect.

    ``processed_at`` is when a worker took the update, ``finished_at`` when all its
    handlers had run; a row taken long ago and never finished is a worker that died
    mid-update, and a redelivery of that update is handled again.
    """

    __tablename__ = "processed_update"

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    processed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InboxUpdate(SQLModel, table=True):
    """A polled update, written down before Telegram is told it arrived (bot.inbox).

    ``payload_ciphertext`` is the raw update (it holds what the person wrote), kept only
    until the update has been handled; then ``finished_at`` is set and the payload
    cleared. A finished row stays a while as a tombstone, so an update Telegram sends
    again after a crash is recognised without its content.
    """

    __tablename__ = "update_inbox"

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    payload_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)


class HealthProbe(SQLModel, table=True):
    """One row the health check writes to: /healthz proves the database takes writes."""

    __tablename__ = "health_probe"

    id: int | None = Field(default=None, primary_key=True)
    checked_at: datetime = Field(sa_type=UTCDateTime)
