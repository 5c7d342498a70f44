"""`alliance-checkin doctor`: check an installation, one line per check, OK or what to do.

Checks, in order: the settings, the database (reachable, migrations applied), the
encryption keys (well formed, and every stored text readable with them), the
templates (every locale has every text, and the questionnaire speaks every locale),
the crisis numbers (each locale has its own, none overdue for review), and the bot
token (getMe at TELEGRAM_API_BASE_URL). A check that depends on an
earlier one that failed is skipped rather than reported twice. Nothing is written:
the doctor never creates a database file or applies a migration.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.settings import ConfigError, Settings, load_settings
from bot.texts import DEFAULT_LOCALE, Texts, catalog_problems, extract_messages

Status = Literal["OK", "FAIL", "SKIP"]
NETWORK_TIMEOUT = 10.0
# Enough names to act on without flooding the terminal.
MAX_NAMED = 5
DAMAGED = "damaged"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was found, or what to do about it."""

    name: str
    status: Status
    detail: str

    def line(self) -> str:
        """The check as one line for the terminal."""
        return f"{self.status:<4}  {self.name}: {self.detail}"


@dataclass
class _State:
    """What later checks need from earlier ones."""

    settings: Settings | None = None
    database_ok: bool = False
    migrated: bool = False


def _named(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def describe_database(url: str) -> str:
    """The database URL for people: backend and place, never a password."""
    parsed = make_url(url)
    path = sqlite_path(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite at {path.resolve() if path else ':memory:'}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return f"PostgreSQL at {where}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def check_settings(load: Callable[[], Settings], state: _State) -> Check:
    """Every setting parses (the token is checked on its own further down)."""
    try:
        state.settings = load()
    except ConfigError as exc:
        return Check("settings", "FAIL", f"{exc} (in .env or the environment)")
    return Check("settings", "OK", "read from the environment and .env")


async def check_database(state: _State) -> Check:
    """The database answers a trivial query."""
    if state.settings is None:
        return Check("database", "SKIP", "fix the settings first")
    url = state.settings.database_url
    where = describe_database(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return Check(
            "database",
            "FAIL",
            f"no database file at {path.resolve()} yet: `alliance-checkin db upgrade` creates it "
            "(`alliance-checkin run` does too)",
        )
    from storage.db import make_engine

    engine = make_engine(url)
    try:
        async with asyncio.timeout(NETWORK_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return Check("database", "FAIL", f"{where} did not answer within {NETWORK_TIMEOUT:g}s")
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        return Check("database", "FAIL", connect_failure(exc, url))
    finally:
        await engine.dispose()
    state.database_ok = True
    return Check("database", "OK", f"{where} is reachable")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE a PostgreSQL error carries, looked for along the chain of causes."""
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        code = getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)
        if isinstance(code, str):
            return code
        found = getattr(found, "orig", None) or found.__cause__ or found.__context__
    return None


def connect_failure(exc: BaseException, url: str) -> str:
    """Why a database could not be opened, in words an admin can act on (no password)."""
    parsed = make_url(url)
    where = describe_database(url)
    server = f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}"
    code = _sqlstate(exc)
    if code == "3D000":  # invalid_catalog_name
        return (
            f"{server} answers, but has no database named '{parsed.database}': create it "
            f"(`sudo -u postgres createdb --owner {parsed.username or 'alliance'} "
            f"{parsed.database}`, docs/deploy.md) or fix DATABASE_URL"
        )
    if code in ("28P01", "28000"):  # invalid_password, invalid_authorization_specification
        return (
            f"{server} refused the login of user '{parsed.username}' (wrong password, or no "
            "such role): check DATABASE_URL"
        )
    if isinstance(exc, ConnectionRefusedError) or isinstance(exc.__cause__, ConnectionRefusedError):
        return f"nothing answers at {server}: is the server running? (DATABASE_URL)"
    return (
        f"cannot connect to {where} ({type(exc).__name__}): check DATABASE_URL and that "
        "the server is running"
    )


async def database_problem(settings: Settings, *, need_current: bool = True) -> str | None:
    """Why the admin's commands cannot use the database yet (one line), or None.

    The same checks as the doctor's database and migrations lines, for commands that read
    or change the database and must not create one or meet a missing table.
    """
    state = _State(settings=settings)
    reachable = await check_database(state)
    if reachable.status != "OK":
        return reachable.detail
    migrations = await check_migrations(state)
    if migrations.status == "OK":
        return None
    from storage.migrate import current_revision

    if need_current or await current_revision(settings.database_url) is None:
        return migrations.detail
    return None


async def check_migrations(state: _State) -> Check:
    """The database is at the newest schema revision this version ships."""
    if state.settings is None or not state.database_ok:
        return Check("migrations", "SKIP", "the database must be reachable first")
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, current_revision, head_revisions

    url = state.settings.database_url
    heads = head_revisions(url)
    current = await current_revision(url)
    if current is None:
        return Check(
            "migrations",
            "FAIL",
            "the database has no schema yet: run `alliance-checkin db upgrade`",
        )
    if current in heads:
        state.migrated = True
        return Check("migrations", "OK", f"schema is current (revision {current})")
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {revision.revision for revision in script.walk_revisions()}
    if current not in known:
        return Check(
            "migrations",
            "FAIL",
            f"the database is at revision {current}, which this version does not know: "
            "install the version that wrote it, or restore a backup made for this one",
        )
    pending = [r.revision for r in script.iterate_revisions(heads[0], current)]
    return Check(
        "migrations",
        "FAIL",
        f"{len(pending)} migration(s) pending ({_named(pending[::-1])}): "
        "run `alliance-checkin db upgrade`",
    )


async def _stored_key_ids(url: str, cipher_key_id: Callable[[bytes], str | None]) -> Counter[str]:
    """How many stored encrypted values each key id protects (every *_ciphertext column)."""
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401 - registers the tables in SQLModel.metadata
    from storage.db import make_engine

    counts: Counter[str] = Counter()
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            for table in SQLModel.metadata.sorted_tables:
                for column in table.columns:
                    if not column.name.endswith("_ciphertext"):
                        continue
                    rows = await connection.execute(
                        table.select().with_only_columns(column).where(column.is_not(None))
                    )
                    for (token,) in rows:
                        # Emptied values (a sent message's payload) hold nothing to read.
                        if token:
                            counts[cipher_key_id(bytes(token)) or DAMAGED] += 1
    finally:
        await engine.dispose()
    return counts


async def check_encryption(state: _State, rotate_command: bool) -> Check:
    """Keys are well formed, and every stored text was sealed with one of them."""
    if state.settings is None:
        return Check("encryption keys", "SKIP", "fix the settings first")
    from storage.crypto import Cipher, KeyConfigError

    try:
        cipher = Cipher.from_setting(state.settings.require_encryption_keys())
    except (ConfigError, KeyConfigError) as exc:
        return Check("encryption keys", "FAIL", str(exc))
    count = len(cipher.key_ids)
    found = f"{count} key{'s' if count != 1 else ''}, newest {cipher.current_key_id}"
    if not state.migrated:
        return Check("encryption keys", "OK", f"{found} (stored texts not checked: no schema)")
    stored = await _stored_key_ids(state.settings.database_url, cipher.key_id_of)
    damaged = stored.pop(DAMAGED, 0)
    if damaged:
        return Check(
            "encryption keys",
            "FAIL",
            f"{damaged} stored value(s) are not in the encrypted format at all: "
            "restore them from a backup",
        )
    unknown = sum(n for kid, n in stored.items() if kid not in cipher.key_ids)
    if unknown:
        return Check(
            "encryption keys",
            "FAIL",
            f"{unknown} stored text(s) were sealed with a key that is not in ENCRYPTION_KEYS: "
            "add that older key back after the newest one",
        )
    older = sum(n for kid, n in stored.items() if kid != cipher.current_key_id)
    total = sum(stored.values())
    detail = f"{found}; {total} stored text(s), all readable"
    if older:
        how = "`alliance-checkin rotate-keys`" if rotate_command else "a key rotation"
        detail += f" ({older} under an older key: {how} re-seals them with the newest)"
    return Check("encryption keys", "OK", detail)


def check_templates(texts: Texts | None = None, instrument_id: str | None = None) -> Check:
    """Every locale has every text, templates compile, catalogs are whole, questionnaire too.

    A catalog (prompts/locales/<locale>/LC_MESSAGES/messages.po) that is missing, does not
    parse, lacks a message of the templates, or has an untranslated or fuzzy entry or one
    that drops a placeholder is named with the locale.
    """
    import jinja2

    from bot.core.instrument import InstrumentError, get_instrument

    texts = texts or Texts()
    keys: dict[str, set[str]] = {}
    try:
        for locale in texts.locales:
            keys[locale] = texts.keys(locale)
    except jinja2.TemplateSyntaxError as exc:
        return Check(
            "templates",
            "FAIL",
            f"{exc.filename or exc.name}, line {exc.lineno}: {exc.message}",
        )
    every = set().union(*keys.values()) if keys else set()
    problems = [
        f"{locale} lacks {_named(sorted(every - own))}"
        for locale, own in keys.items()
        if every - own
    ]
    # The catalogs of the one-template areas: present, parsed, translated, placeholders kept.
    if texts.template_areas():
        template = extract_messages(texts.root)
        for locale in texts.locales:
            if locale == DEFAULT_LOCALE:
                continue
            wrong = catalog_problems(texts.root, locale, template)
            if wrong:
                problems.append(f"{locale} catalog: {_named(wrong)}")
    try:
        instrument = get_instrument(instrument_id) if instrument_id else get_instrument()
    except InstrumentError as exc:
        return Check("templates", "FAIL", f"questionnaire: {exc}")
    untranslated = [loc for loc in texts.locales if loc not in instrument.locales]
    if untranslated:
        problems.append(
            f"the questionnaire {instrument.id} has no texts for {', '.join(untranslated)}"
        )
    if problems:
        return Check("templates", "FAIL", "; ".join(problems) + f" (under {texts.root})")
    return Check(
        "templates",
        "OK",
        f"{len(every)} texts in each of {', '.join(texts.locales)}; questionnaire complete",
    )


def check_strain_policy(path: Path | None = None) -> Check:
    """The practice's strain thresholds (prompts/strain_policy.toml) are known, typed, coherent."""
    from bot.core.strain import StrainPolicyError
    from bot.strain_policy import POLICY_FILE, read_strain_policy

    path = path or POLICY_FILE
    try:
        read_strain_policy(path)
    except StrainPolicyError as exc:
        return Check("strain policy", "FAIL", str(exc))
    found = "read" if path.exists() else "absent: the defaults apply"
    return Check("strain policy", "OK", f"{path.name} {found}")


def check_crisis_resources(today: date, texts: Texts | None = None) -> Check:
    """Every locale has valid crisis numbers of its own, and none is overdue for review."""
    from bot.core.crisis import CrisisDataError, is_review_overdue, load_crisis_resources

    texts = texts or Texts()
    problems: list[str] = []
    for locale in texts.locales:
        try:
            resources = load_crisis_resources(locale, base_dir=texts.root)
        except CrisisDataError as exc:
            problems.append(str(exc))
            continue
        if resources.is_fallback:
            problems.append(f"{locale} has no crisis.toml of its own (English numbers are shown)")
        elif is_review_overdue(resources, today):
            problems.append(
                f"{locale} was due for review on {resources.next_review.isoformat()}: check each "
                f"number and update reviewed/next_review in prompts/{locale}/crisis.toml"
            )
    if problems:
        return Check("crisis numbers", "FAIL", "; ".join(problems))
    return Check("crisis numbers", "OK", f"present and reviewed for {', '.join(texts.locales)}")


async def check_telegram(state: _State) -> Check:
    """The token is accepted by the Bot API at TELEGRAM_API_BASE_URL (getMe)."""
    if state.settings is None:
        return Check("telegram", "SKIP", "fix the settings first")
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    try:
        token = state.settings.require_token()
    except ConfigError as exc:
        return Check("telegram", "FAIL", str(exc))
    base_url = state.settings.telegram_api_base_url
    host = urlsplit(base_url).netloc
    try:
        bot = Bot(token, base_url=base_url)
        async with asyncio.timeout(NETWORK_TIMEOUT * 2):
            await bot.initialize()
            try:
                me = await bot.get_me(read_timeout=NETWORK_TIMEOUT, connect_timeout=NETWORK_TIMEOUT)
            finally:
                await bot.shutdown()
    except InvalidToken:
        return Check(
            "telegram",
            "FAIL",
            f"the Bot API at {host} rejected TELEGRAM_BOT_TOKEN: copy the token from BotFather "
            "again",
        )
    except (NetworkError, TimeoutError) as exc:
        return Check(
            "telegram",
            "FAIL",
            f"could not reach the Bot API at {host} ({type(exc).__name__}): check "
            "TELEGRAM_API_BASE_URL and the network",
        )
    except TelegramError as exc:
        return Check("telegram", "FAIL", f"the Bot API at {host} answered {type(exc).__name__}")
    return Check("telegram", "OK", f"the token belongs to @{me.username} (getMe at {host})")


async def check_webhook(state: _State) -> Check | None:
    """With WEBHOOK_URL set: the secret is there, and Telegram delivers to that URL."""
    settings = state.settings
    if settings is None or getattr(settings, "webhook_url", None) is None:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    try:
        url, _secret = settings.require_webhook()
        token = settings.require_token()
    except ConfigError as exc:
        return Check("webhook", "FAIL", str(exc))
    try:
        async with (
            asyncio.timeout(NETWORK_TIMEOUT * 2),
            Bot(token, base_url=settings.telegram_api_base_url) as bot,
        ):
            info = await bot.get_webhook_info()
    except (TelegramError, TimeoutError) as exc:
        return Check("webhook", "SKIP", f"Telegram could not be asked ({type(exc).__name__})")
    if not info.url:
        return Check(
            "webhook", "OK", "configured; `alliance-checkin run --webhook` registers it at start"
        )
    if info.url != url:
        return Check(
            "webhook",
            "FAIL",
            f"Telegram delivers to {info.url}, not WEBHOOK_URL: restart with `run --webhook`",
        )
    if info.last_error_message:
        return Check(
            "webhook",
            "FAIL",
            f"Telegram's last delivery failed ({info.last_error_message}; "
            f"{info.pending_update_count} update(s) waiting): check the reverse proxy",
        )
    return Check(
        "webhook", "OK", f"Telegram delivers to {url} ({info.pending_update_count} waiting)"
    )


async def diagnose(
    load: Callable[[], Settings] = load_settings,
    *,
    texts: Texts | None = None,
    rotate_command: bool = False,
    today: date | None = None,
) -> list[Check]:
    """Run every check in order."""
    state = _State()
    checks = [check_settings(load, state)]
    checks.append(await check_database(state))
    checks.append(await check_migrations(state))
    checks.append(await check_encryption(state, rotate_command))
    # The questionnaire in use (INSTRUMENT) must speak every language the templates do.
    instrument_id = getattr(state.settings, "instrument", None) if state.settings else None
    checks.append(check_templates(texts, instrument_id))
    checks.append(check_strain_policy())
    checks.append(check_crisis_resources(today or SystemClock().now().date(), texts))
    checks.append(await check_telegram(state))
    webhook = await check_webhook(state) if checks[-1].status == "OK" else None
    if webhook is not None:
        checks.append(webhook)
    return checks


def report(checks: Sequence[Check]) -> tuple[str, int]:
    """The lines to print and the exit code (1 when anything failed)."""
    failed = sum(1 for check in checks if check.status == "FAIL")
    lines = [check.line() for check in checks]
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines), 1 if failed else 0
