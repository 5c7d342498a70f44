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


def check_instrument(instrument_id: str) -> str:
    """The id if prompts/instruments/<id>.toml is a usable questionnaire, else ValueError."""
    # Imported here: the settings module is read before anything else and stays light.
    from bot.core.instrument import INSTRUMENTS_DIR, load_instrument
    from bot.core.instrument_check import PLACEHOLDER_MARK, validate_instrument_file

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", instrument_id):
        raise ValueError("use the id of a file in prompts/instruments/, e.g. alliance-default")
    path = INSTRUMENTS_DIR / f"{instrument_id}.toml"
    shown = f"prompts/instruments/{path.name}"
    if not path.is_file():
        raise ValueError(f"there is no {shown}")
    errors = validate_instrument_file(path)
    if errors:
        raise ValueError(f"{shown} is not usable: {errors[0]}")
    instrument = load_instrument(path)
    if instrument.id != instrument_id:
        raise ValueError(f"{shown} has id '{instrument.id}'; the id must match the file name")
    texts = [
        text
        for item in instrument.items
        for text in [*item.text.values(), *(v for o in item.options for v in o.label.values())]
    ]
    if any(PLACEHOLDER_MARK in text for text in texts):
        raise ValueError(
            f"{shown} still has placeholder wording "
            f"(`alliance-checkin instrument check {shown}` lists it)"
        )
    return instrument_id


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
    instrument: str = Field(
        default="alliance-default",
        description="The questionnaire clients answer: the id of a file "
        "prompts/instruments/<id>.toml (docs/instruments.md). Checked at start-up.",
    )
    retention_months: Annotated[int, Field(ge=0, le=240)] = Field(
        default=12,
        description="Erase everything about a client this many months after they stopped "
        "taking part (left, therapy ended with /end, declined, never joined, or blocked the "
        "bot); 0 keeps data until the client erases it with /delete.",
    )
    conversation_item_one_in: Annotated[int, Field(ge=0, le=100)] = Field(
        default=6,
        description="Besides the first check-in after a suggested relationship conversation, "
        "ask the client whether they and the therapist talked about the relationship in about "
        "one check-in in this many (a fixed, seeded choice per client and check-in, so being "
        "asked does not mean being flagged); 0 asks it only after a suggestion.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level. Logs never contain message text, tokens or keys."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as plain text or as one JSON object per line (for log shippers).",
    )
    send_rate_global: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=30,
        description="Messages per second this process may send across all chats. Telegram "
        "allows a bot about 30/s in total (up to 1000/s with SEND_PAID_BROADCAST); with "
        "several workers give each its share, e.g. 15 each for two.",
    )
    send_rate_per_chat: Annotated[float, Field(gt=0, le=30)] = Field(
        default=1, description="Messages per second to one chat (Telegram: about 1/s)."
    )
    send_burst_per_chat: Annotated[int, Field(ge=1, le=20)] = Field(
        default=3,
        description="Messages that may go to one chat at once before SEND_RATE_PER_CHAT "
        "applies (a digest with its chart); Telegram tolerates short bursts.",
    )
    send_paid_broadcast: bool = Field(
        default=False,
        description="Mark bot-initiated messages as paid broadcasts (Telegram Stars), which "
        "lifts Telegram's overall limit to 1000/s; raise SEND_RATE_GLOBAL to match.",
    )
    send_concurrency: Annotated[int, Field(ge=1, le=256)] = Field(
        default=32, description="Most Bot API sends in flight at once in this process."
    )
    update_concurrency: Annotated[int, Field(ge=1, le=256)] = Field(
        default=16,
        description="Most incoming updates handled at once in this process; one person's "
        "updates are always handled in order. 1 handles one update at a time.",
    )
    send_max_attempts: Annotated[int, Field(ge=1, le=50)] = Field(
        default=8,
        description="Attempts after network errors before a message is parked and reported.",
    )
    send_lease_seconds: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=60,
        description="How long a worker holds claimed messages if nothing shows it has "
        "stopped; a restarted worker takes back its own at once, and on PostgreSQL a "
        "worker whose database session is gone loses them at once.",
    )
    send_in_doubt_max: Annotated[int, Field(ge=1, le=256)] = Field(
        default=1,
        description="Most outbox sends this process has on the wire before their outcome "
        "is recorded. A kill -9 can make each of them arrive twice, so 1 means at most one "
        "duplicate per crash, at about one message per Telegram round trip plus two "
        "database writes; raise it (up to SEND_CONCURRENCY) for paid-broadcast rates.",
    )
    worker_name: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Za-z0-9._@-]*$",
        description="This worker's name, the same across restarts (default: the host "
        "name). The restarted worker takes back at once the messages its previous run "
        "held; give each worker on one host its own, e.g. the systemd instance name.",
    )
    webhook_listen: str = Field(
        default="127.0.0.1",
        description="Address the webhook server listens on (`run --webhook`); put a TLS "
        "reverse proxy in front, or 0.0.0.0 to listen on every interface.",
    )
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8443, description="Port of the webhook server; several workers may share it."
    )
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to, e.g. "
        "https://bot.example.org/telegram (its path is served). Required for `run --webhook`.",
    )
    webhook_secret_token: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; requests "
        "without it are rejected. 1–256 of A-Z a-z 0-9 _ -. Required for `run --webhook`.",
    )
    metrics_listen: str = Field(
        default="127.0.0.1",
        description="Address of /healthz and /metrics when polling (with METRICS_PORT).",
    )
    metrics_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        default=None,
        description="Serve /healthz and /metrics on this port when polling; in webhook mode "
        "they are on the webhook server. Off by default.",
    )

    source_url: str | None = Field(
        default=None,
        description="Where the people using the bot get its source code (the AGPL's network "
        "clause), shown by /source, e.g. the practice's copy of the repository. Unset, "
        "/source sends the running code itself as a .tar.gz file.",
    )

    @field_validator("source_url")
    @classmethod
    def _source_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value.strip()):
            raise ValueError("must be an http(s) URL such as https://git.example.org/alliance")
        return value.strip()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value.strip()):
            raise ValueError("must be an https URL such as https://bot.example.org/telegram")
        return value.strip()

    @field_validator("webhook_secret_token")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not re.match(r"^[A-Za-z0-9_-]{1,256}$", value.get_secret_value()):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    def require_webhook(self) -> tuple[str, str]:
        """The public URL and secret token for webhook mode, or a ConfigError naming one."""
        if self.webhook_url is None:
            raise ConfigError("WEBHOOK_URL is not set: `run --webhook` needs the public URL")
        if self.webhook_secret_token is None:
            raise ConfigError(
                "WEBHOOK_SECRET_TOKEN is not set: `run --webhook` needs a secret token"
            )
        return self.webhook_url, self.webhook_secret_token.get_secret_value()

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

    @field_validator("instrument")
    @classmethod
    def _instrument(cls, value: str) -> str:
        return check_instrument(value.strip())

    def require_token(self) -> str:
        """The bot token, or a ConfigError naming the variable."""
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: put the token from BotFather in .env")
        token = self.telegram_bot_token.get_secret_value().strip()
        if not re.match(r"^\d+:[A-Za-z0-9_-]{20,}$", token):
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
