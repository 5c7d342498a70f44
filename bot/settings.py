"""Settings from the environment and `.env` (pydantic-settings).

Names are a contract (see the README's configuration table, which a test checks
against this class). A bad or missing value stops start-up with one line naming
the variable, never a traceback, and secrets are held as SecretStr so they never
reach a log line or a repr.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PUBLIC_API_BASE_URL = "https://api.telegram.org/bot"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


def parse_hhmm(value: str) -> time:
    """'08:00' → time(8, 0); raises ValueError on anything else."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError("use HH:MM, 24-hour clock, e.g. 08:00")
    return time(int(match.group(1)), int(match.group(2)))


def check_timezone(name: str) -> str:
    """Return the IANA name if it is known, else raise ValueError."""
    if not name or name.startswith("/") or ".." in name:
        raise ValueError("use an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("use an IANA time zone name such as Europe/Berlin") from exc
    return name


class Settings(BaseSettings):
    """Every setting of the bot. Field descriptions are the documentation."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None, description="The bot token from BotFather. Required for `run`."
    )
    telegram_api_base_url: str = Field(
        default=PUBLIC_API_BASE_URL,
        description="Bot API base URL in python-telegram-bot's base_url form "
        "(http://host:port/bot), for a self-hosted Bot API server or a local test server.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./alliance.db",
        description="SQLAlchemy URL. SQLite for one machine; postgresql+asyncpg://… "
        "for several workers.",
    )
    checkin_delay_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = Field(
        default=60, description="Minutes after a session ends before its check-in is sent."
    )
    dispatch_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30,
        description="How often due work (check-ins, reminders, expiry, digests) is picked up.",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Keys for free text at rest, comma-separated, newest first; each 32 "
        "random bytes in URL-safe base64 (`alliance-checkin generate-key`). Required for `run`.",
    )
    reminder_after_hours: Annotated[float, Field(gt=0)] = Field(
        default=24, description="Send one gentle reminder when a check-in is unanswered this long."
    )
    expire_after_hours: Annotated[float, Field(gt=0)] = Field(
        default=72, description="Close an unanswered or unfinished check-in after this long."
    )
    invitation_ttl_days: Annotated[int, Field(ge=1, le=90)] = Field(
        default=7, description="Days an invitation link stays valid."
    )
    quiet_hours_start: str = Field(
        default="21:00", description="Nothing is sent to clients from this local time…"
    )
    quiet_hours_end: str = Field(default="08:00", description="…until this local time.")
    default_timezone: str = Field(
        default="UTC", description="Time zone of a newly registered therapist (IANA name)."
    )
    default_digest_weekday: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = Field(default="monday", description="Weekday of a new therapist's weekly digest.")
    default_digest_time: str = Field(
        default="08:00", description="Local time of a new therapist's weekly digest."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level. Logs never contain message text, tokens or keys."
    )

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8081/bot")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://…")
        return value

    @field_validator("quiet_hours_start", "quiet_hours_end", "default_digest_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value.strip()

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    def require_token(self) -> str:
        """The bot token, or a ConfigError naming the variable."""
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: put the token from BotFather in .env")
        token = self.telegram_bot_token.get_secret_value().strip()
        if not re.match(r"^\d+:[A-Za-z0-9_-]{20,}$", token) and not token.endswith("TEST-TOKEN"):
            raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits:letters)")
        return token

    def require_encryption_keys(self) -> str:
        """The raw ENCRYPTION_KEYS value, or a ConfigError naming the variable."""
        if self.encryption_keys is None or not self.encryption_keys.get_secret_value().strip():
            raise ConfigError(
                "ENCRYPTION_KEYS is not set: run `alliance-checkin generate-key` and put the "
                "key in .env"
            )
        return self.encryption_keys.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one clear ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{variable}: {message}") from None
