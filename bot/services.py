"""What every handler and job needs, built once per process and passed around explicitly."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Protocol, cast

from telegram.ext import CallbackContext, ExtBot

from bot.clock import Clock
from bot.core.instrument import DEFAULT_INSTRUMENT_ID, Instrument, get_instrument
from bot.core.strain import StrainSettings
from bot.settings import Settings, parse_hhmm
from bot.strain_policy import practice_strain_settings
from bot.texts import Texts, default_texts
from storage.crypto import Cipher
from storage.db import Database
from storage.models import Client, Therapist


class Delivery(Protocol):
    """What the services offer of the process's one outbox sender (bot.sending.sender.Sender)."""

    async def deliver(
        self, limit: int | None = None, *, keys: Sequence[str] | None = None
    ) -> tuple[int, int]:
        """Claim once (only the rows with ``keys``, if given) and send; (claimed, sent)."""
        ...


@dataclass
class Services:
    """Settings, database, clock, texts, cipher and the instrument, shared by handlers and jobs."""

    settings: Settings
    db: Database
    clock: Clock
    cipher: Cipher
    texts: Texts = field(default_factory=default_texts)
    instrument: Instrument = field(default_factory=get_instrument)
    # The strain thresholds of prompts/strain_policy.toml: a bad file stops the start.
    strain: StrainSettings = field(default_factory=practice_strain_settings)
    bot_username: str = ""
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    # The process's one outbox sender, built at wiring time (bot.app, through
    # bot.checkins.lifecycle.sender_of): the periodic pass, the crisis alert and the
    # service's sending loop all deliver through it.
    sender: Delivery | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Use the practice's chosen questionnaire (INSTRUMENT) unless one was passed in."""
        if (
            self.instrument.id == DEFAULT_INSTRUMENT_ID
            and self.settings.instrument != DEFAULT_INSTRUMENT_ID
        ):
            self.instrument = get_instrument(self.settings.instrument)

    @property
    def quiet_start(self) -> time:
        """Start of clients' quiet hours (local time)."""
        return parse_hhmm(self.settings.quiet_hours_start)

    @property
    def quiet_end(self) -> time:
        """End of clients' quiet hours (local time)."""
        return parse_hhmm(self.settings.quiet_hours_end)


@dataclass
class Person:
    """Who sent an update: a therapist, a client, or nobody we know."""

    therapist: Therapist | None
    client: Client | None
    locale: str

    @property
    def known(self) -> bool:
        """Whether the sender is enrolled in any role."""
        return self.therapist is not None or self.client is not None


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handler context with typed access to the services.

    python-telegram-bot builds one context per update and hands it to every handler group
    in turn, so what an early group learns stays for the later ones: ``person`` is the
    sender, resolved once (bot.handlers.common.resolve_person, group -1 in bot.app).
    """

    person: Person | None = None

    @property
    def services(self) -> Services:
        """The process's services (set when the application is built)."""
        return cast(Services, self.bot_data["services"])
