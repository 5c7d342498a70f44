"""The digest decrypts the comments it quotes and no others.

A client who left a comment after each of six sessions this week: the weekly triage
quotes none and opens none; the client's detail quotes the three newest that can be
read, newest first, and the older ones stay encrypted. A comment
that cannot be decrypted is passed over for the next one, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.clock import SystemClock
from bot.digest.weekly import client_detail, weekly_digest
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.services import Services
from bot.settings import load_settings
from storage.crypto import Cipher, answer_text_context, generate_key, parse_keys
from storage.db import Database
from storage.models import Answer, CheckIn, Client, Therapist, TherapySession, alias_key
from storage.states import CheckinState, ClientState

NOW = datetime(2026, 6, 12, 9, 0, tzinfo=UTC)
SCORES = {"bond": 5, "goals": 4, "tasks": 5, "openness": 4, "tension": 0}


class CountingCipher(Cipher):
    """A cipher that remembers which contexts it was asked to decrypt."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        super().__init__(keys)
        self.opened: list[str] = []

    def decrypt(self, token: bytes, *, context: str) -> str:
        """Decrypt as usual, noting the context first."""
        self.opened.append(context)
        return super().decrypt(token, context=context)


async def seed(db: Database, cipher: Cipher) -> tuple[Therapist, int, list[int]]:
    """One therapist, one client, six sessions this week, each answered with a comment.

    The newest comment is sealed for another check-in, so it cannot be opened.
    """
    long_ago = NOW - timedelta(days=400)
    async with db.session() as session:
        therapist = Therapist(
            telegram_user_id=1001,
            chat_id=1001,
            name="Dr. Invented",
            timezone="UTC",
            digest_weekday=4,
            digest_time="08:00",
            created_at=long_ago,
            locale="en",
        )
        session.add(therapist)
        await session.flush()
        client = Client(
            therapist_id=therapist.id or 0,
            alias="robin",
            alias_key=alias_key("robin"),
            telegram_user_id=2002,
            chat_id=2002,
            status=ClientState.ACTIVE,
            locale="en",
            consent_at=long_ago,
            consent_version=PRIVACY_NOTICE_VERSION,
            created_at=long_ago,
        )
        session.add(client)
        await session.flush()
        checkin_ids = []
        for day in range(6):
            ended = NOW - timedelta(days=6 - day, hours=2)
            sitting = TherapySession(
                client_id=client.id or 0, ended_at=ended, source="manual", created_at=ended
            )
            session.add(sitting)
            await session.flush()
            checkin = CheckIn(
                client_id=client.id or 0,
                session_id=sitting.id or 0,
                instrument_id="alliance-default",
                sequence=day + 1,
                items="bond,goals,tasks,openness,tension,comment",
                status=CheckinState.COMPLETED,
                due_at=ended + timedelta(hours=1),
                sent_at=ended + timedelta(hours=1),
                closed_at=ended + timedelta(hours=2),
            )
            session.add(checkin)
            await session.flush()
            checkin_id = checkin.id or 0
            checkin_ids.append(checkin_id)
            for item, value in SCORES.items():
                session.add(
                    Answer(checkin_id=checkin_id, item_id=item, value=value, answered_at=ended)
                )
            sealed_for = checkin_id if day < 5 else checkin_id + 1000
            session.add(
                Answer(
                    checkin_id=checkin_id,
                    item_id="comment",
                    text_ciphertext=cipher.encrypt(
                        f"comment number {day + 1}",
                        context=answer_text_context(sealed_for, client.id or 0, "comment"),
                    ),
                    answered_at=ended,
                )
            )
    return therapist, client.id or 0, checkin_ids


async def test_only_the_quoted_comments_are_decrypted(database_url: str) -> None:
    key = generate_key()
    cipher = CountingCipher(parse_keys(key))
    db = Database(database_url)
    try:
        therapist, client_id, checkin_ids = await seed(db, cipher)
        services = Services(
            settings=load_settings(database_url=database_url, encryption_keys=key),
            db=db,
            clock=SystemClock(),
            cipher=cipher,
        )
        output = await weekly_digest(services, therapist, NOW)
        # The triage quotes no comment, so none was opened for it.
        assert cipher.opened == []
        assert not any("comment number" in text for text in output.texts)
        detail = await client_detail(services, therapist, client_id, NOW)
    finally:
        await db.dispose()
    assert detail is not None
    text = "\n".join(detail.texts)
    # Newest first; number 6 cannot be read, so 5, 4 and 3 are quoted, and no more.
    assert text.index("comment number 5") < text.index("comment number 4")
    assert text.index("comment number 4") < text.index("comment number 3")
    for unquoted in ("comment number 6", "comment number 2", "comment number 1"):
        assert unquoted not in text
    # The unreadable one was tried, then the three quoted; the two oldest never opened.
    assert cipher.opened == [
        answer_text_context(checkin_id, client_id, "comment") for checkin_id in checkin_ids[:1:-1]
    ]
