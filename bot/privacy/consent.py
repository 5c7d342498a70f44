"""Renewed consent: when the privacy notice changes (``PRIVACY_NOTICE_VERSION``), a client who
agreed to an older version is asked again before their next check-in; the check-in waits
for the answer. Declining leaves the check-ins.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import callbacks
from bot.practice.enrolment import PRIVACY_NOTICE_VERSION
from bot.sending import outbox
from bot.services import Services
from storage.models import (
    Client,
)


def consent_outdated(client: Client) -> bool:
    """Whether the client agreed to an older privacy notice than the current one."""
    return client.consent_at is not None and (client.consent_version or 0) < PRIVACY_NOTICE_VERSION


async def ask_consent_again(
    session: AsyncSession, services: Services, client: Client, now: datetime
) -> bool:
    """Queue the new privacy notice with agree/decline buttons (once per version)."""
    if client.chat_id is None:
        return False
    texts = services.texts
    locale = client.locale
    return await outbox.enqueue(
        session,
        services.cipher,
        kind="consent",
        dedupe_key=f"consent:{client.id}:v{PRIVACY_NOTICE_VERSION}",
        message=outbox.Outgoing(
            client.chat_id,
            texts.render(locale, "rights.consent_again"),
            [
                [
                    (
                        texts.plain(locale, "rights.button_consent_yes"),
                        callbacks.notice(True, PRIVACY_NOTICE_VERSION),
                    )
                ],
                [
                    (
                        texts.plain(locale, "rights.button_consent_no"),
                        callbacks.notice(False, PRIVACY_NOTICE_VERSION),
                    )
                ],
            ],
        ),
        now=now,
        client_id=client.id,
    )
