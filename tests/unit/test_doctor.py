"""`alliance-checkin doctor`: one line per check, OK when all is well, what to do when not."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import write_po

from bot.cli import main
from bot.doctor import Check, check_crisis_resources, check_templates, diagnose, report
from bot.offline.standin import BotAPIStandIn
from bot.texts import PROMPTS_DIR, Texts, catalog_path, read_catalog
from storage.crypto import Cipher, generate_key
from storage.db import Database
from storage.models import OutboxMessage

SETTINGS = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_BASE_URL",
    "DATABASE_URL",
    "ENCRYPTION_KEYS",
    "CHECKIN_DELAY_MINUTES",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET_TOKEN",
    "INSTRUMENT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from what each test sets (no stray .env or variables)."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIStandIn]:
    """The local Bot API stand-in, answering getMe for its token."""
    async with BotAPIStandIn(bot_username="practice_checkin_bot") as standin:
        yield standin


def configure(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str, keys: str
) -> None:
    """A complete configuration, as an administrator would put it in .env."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", telegram.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", telegram.base_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENCRYPTION_KEYS", keys)


def by_name(checks: list[Check]) -> dict[str, Check]:
    """Checks keyed by name."""
    return {check.name: check for check in checks}


async def store_sealed_text(
    database_url: str, cipher: Cipher | None, dedupe_key: str, raw: bytes | None = None
) -> None:
    """One encrypted value in the database, as the outbox keeps a queued message."""
    if raw is None:
        assert cipher is not None
        raw = cipher.encrypt("{}", context=f"outbox:{dedupe_key}")
    now = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)
    db = Database(database_url)
    try:
        async with db.session() as session:
            session.add(
                OutboxMessage(
                    kind="message",
                    chat_id=1,
                    dedupe_key=dedupe_key,
                    payload_ciphertext=raw,
                    not_before=now,
                    created_at=now,
                )
            )
    finally:
        await db.dispose()


async def test_a_healthy_installation_passes_every_check(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """Settings, database, schema, keys, templates and token: six lines, all OK, exit 0."""
    configure(monkeypatch, telegram, database_url, generate_key())
    checks = await diagnose()
    assert [c.name for c in checks] == [
        "settings",
        "database",
        "migrations",
        "encryption keys",
        "templates",
        "strain policy",
        "crisis numbers",
        "telegram",
    ]
    # Template completeness and crisis numbers have their own tests below.
    others = [c for c in checks if c.name not in ("templates", "crisis numbers")]
    assert all(c.status == "OK" for c in others), [c.line() for c in checks]
    assert "@practice_checkin_bot" in by_name(checks)["telegram"].detail
    text, code = report(others)
    assert code == 0 and text.endswith("all checks passed")
    assert all("\n" not in c.line() for c in checks), "each check is one line"


async def test_secrets_never_appear_in_the_report(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """Neither the token, nor a key, nor a database password is printed."""
    key = generate_key()
    configure(monkeypatch, telegram, database_url, key)
    text, _code = report(await diagnose())
    assert telegram.token not in text
    assert key not in text
    assert telegram.token.split(":")[1] not in text


async def test_a_wrong_token_says_to_copy_it_again(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """getMe answers 401: the telegram line says so and names the setting."""
    configure(monkeypatch, telegram, database_url, generate_key())
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999999:WRONGwrongWRONGwrongWRONG")
    check = by_name(await diagnose())["telegram"]
    assert check.status == "FAIL"
    assert "TELEGRAM_BOT_TOKEN" in check.detail and "BotFather" in check.detail


async def test_an_unreachable_bot_api_names_the_base_url_setting(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Nothing listens at the configured Bot API address."""
    async with BotAPIStandIn() as standin:
        base_url, token = standin.base_url, standin.token
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", base_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ENCRYPTION_KEYS", generate_key())
    check = by_name(await diagnose())["telegram"]
    assert check.status == "FAIL"
    assert "TELEGRAM_API_BASE_URL" in check.detail


async def test_an_unmigrated_database_says_to_run_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, tmp_path: Path
) -> None:
    """An empty SQLite file: reachable, but the schema is missing."""
    path = tmp_path / "empty.db"
    path.touch()
    configure(monkeypatch, telegram, f"sqlite+aiosqlite:///{path}", generate_key())
    checks = by_name(await diagnose())
    assert checks["database"].status == "OK"
    assert checks["migrations"].status == "FAIL"
    assert "alliance-checkin db upgrade" in checks["migrations"].detail


async def test_a_missing_sqlite_file_is_not_created_by_the_doctor(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, tmp_path: Path
) -> None:
    """The doctor only looks: it says how to create the database and leaves no file behind."""
    path = tmp_path / "nowhere.db"
    configure(monkeypatch, telegram, f"sqlite+aiosqlite:///{path}", generate_key())
    checks = by_name(await diagnose())
    assert checks["database"].status == "FAIL"
    assert "db upgrade" in checks["database"].detail
    assert checks["migrations"].status == "SKIP"
    assert not path.exists()


async def test_an_unreachable_postgresql_server_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn
) -> None:
    """A closed port: the line names DATABASE_URL; the password stays out of it."""
    url = "postgresql+asyncpg://alliance:s3cret-pass@127.0.0.1:9/alliance"
    configure(monkeypatch, telegram, url, generate_key())
    checks = by_name(await diagnose())
    assert checks["database"].status == "FAIL"
    assert "DATABASE_URL" in checks["database"].detail
    assert "s3cret-pass" not in report(list(checks.values()))[0]


async def test_texts_sealed_with_a_removed_key_fail_the_key_check(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """A key was dropped from ENCRYPTION_KEYS while texts still need it: say to add it back."""
    old, new = generate_key(), generate_key()
    await store_sealed_text(database_url, Cipher.from_setting(old), "doctor-old")
    configure(monkeypatch, telegram, database_url, new)
    check = by_name(await diagnose())["encryption keys"]
    assert check.status == "FAIL"
    assert "1 stored text" in check.detail and "add that older key back" in check.detail


async def test_texts_under_an_older_listed_key_are_readable_and_counted(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """After adding a new key in front, old texts still read; the line says how many are old."""
    old, new = generate_key(), generate_key()
    await store_sealed_text(database_url, Cipher.from_setting(old), "doctor-a")
    await store_sealed_text(database_url, Cipher.from_setting(f"{new},{old}"), "doctor-b")
    configure(monkeypatch, telegram, database_url, f"{new},{old}")
    check = by_name(await diagnose())["encryption keys"]
    assert check.status == "OK", check.line()
    assert "2 keys" in check.detail and "2 stored text(s), all readable" in check.detail
    assert "1 under an older key" in check.detail


async def test_a_malformed_key_is_named(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """A truncated key: the line says which key of ENCRYPTION_KEYS is wrong."""
    configure(monkeypatch, telegram, database_url, f"{generate_key()},abc")
    check = by_name(await diagnose())["encryption keys"]
    assert check.status == "FAIL"
    assert "ENCRYPTION_KEYS" in check.detail and "key 2" in check.detail


def test_a_text_missing_in_one_locale_is_named(tmp_path: Path) -> None:
    """Remove one translation from the Spanish catalog: the line names the locale and the text."""
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    path = catalog_path(root, "es")
    catalog = read_catalog(path, "es")
    entry = next(m for m in catalog if m.context == "common.unknown_command")
    catalog.delete(entry.id, context=entry.context)
    with path.open("wb") as handle:
        write_po(handle, catalog)
    check = check_templates(Texts(root))
    assert check.status == "FAIL"
    assert "es catalog: common.unknown_command" in check.detail and "is missing" in check.detail


def test_a_missing_or_broken_catalog_is_named(tmp_path: Path) -> None:
    """No German catalog, then a Spanish one that does not parse: each is named."""
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    catalog_path(root, "de").unlink()
    catalog_path(root, "es").write_text('msgid "unclosed\n', encoding="utf-8")
    check = check_templates(Texts(root))
    assert check.status == "FAIL"
    assert "de catalog: no catalog prompts/locales/de/LC_MESSAGES/messages.po" in check.detail
    assert "es catalog: prompts/locales/es/LC_MESSAGES/messages.po does not parse" in check.detail


def test_a_template_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """A broken template is reported with where it broke."""
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "templates" / "common.j2").write_text("{% block oops %}{{ name }{% endblock %}\n")
    check = check_templates(Texts(root))
    assert check.status == "FAIL"
    assert "common.j2" in check.detail and "line 1" in check.detail


def test_the_shipped_templates_pass() -> None:
    """The installed prompts are complete in every locale."""
    assert check_templates().status == "OK"


def test_bad_settings_fail_first_and_skip_what_depends_on_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alliance-checkin doctor` with a bad value: exit 1, the variable named, no traceback."""
    monkeypatch.setenv("CHECKIN_DELAY_MINUTES", "soon")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].startswith("FAIL  settings: CHECKIN_DELAY_MINUTES")
    skipped = {line.split(":")[0].split(None, 1)[1] for line in lines if line.startswith("SKIP")}
    assert skipped == {"database", "migrations", "encryption keys", "telegram"}, out
    assert lines[-1].endswith("check(s) failed")
    assert "Traceback" not in out


async def test_emptied_values_are_not_counted_and_damaged_ones_fail(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """A sent message's emptied payload holds nothing; bytes that are no token at all fail."""
    key = generate_key()
    configure(monkeypatch, telegram, database_url, key)
    await store_sealed_text(database_url, None, "doctor-sent", raw=b"")
    check = by_name(await diagnose())["encryption keys"]
    assert check.status == "OK" and "0 stored text(s)" in check.detail, check.line()
    await store_sealed_text(database_url, None, "doctor-damaged", raw=b"not a token")
    check = by_name(await diagnose())["encryption keys"]
    assert check.status == "FAIL" and "not in the encrypted format" in check.detail


def test_crisis_numbers_overdue_for_review_are_named(tmp_path: Path) -> None:
    """A locale whose crisis numbers were due for review yesterday: say which file to check."""
    from bot.core.crisis import load_crisis_resources

    due = load_crisis_resources("en").next_review
    assert check_crisis_resources(due).status == "OK", "on the day itself it is due, not late"
    check = check_crisis_resources(due + timedelta(days=1))
    assert check.status == "FAIL"
    assert "prompts/en/crisis.toml" in check.detail


def test_a_locale_without_its_own_crisis_numbers_fails(tmp_path: Path) -> None:
    """Templates for a language without crisis.toml would show English numbers: say so."""
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "es" / "crisis.toml").unlink()
    check = check_crisis_resources(date(2026, 6, 1), Texts(root))
    assert check.status == "FAIL" and "es has no crisis.toml" in check.detail


async def test_a_webhook_line_appears_only_when_a_webhook_is_configured(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """Polling: no webhook line. WEBHOOK_URL without its secret: say which setting is missing."""
    configure(monkeypatch, telegram, database_url, generate_key())
    assert "webhook" not in by_name(await diagnose())
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/telegram")
    check = by_name(await diagnose())["webhook"]
    assert check.status == "FAIL" and "WEBHOOK_SECRET_TOKEN" in check.detail


async def test_the_webhook_telegram_delivers_to_must_be_webhook_url(
    monkeypatch: pytest.MonkeyPatch, telegram: BotAPIStandIn, database_url: str
) -> None:
    """Telegram has another URL registered: the line says to restart in webhook mode."""
    from telegram import Bot

    configure(monkeypatch, telegram, database_url, generate_key())
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org/telegram")
    monkeypatch.setenv("WEBHOOK_SECRET_TOKEN", "s3cret_token")
    check = by_name(await diagnose())["webhook"]
    assert check.status == "OK" and "registers it at start" in check.detail
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        await bot.set_webhook("http://127.0.0.1:9/elsewhere", secret_token="s3cret_token")
    check = by_name(await diagnose())["webhook"]
    assert check.status == "FAIL" and "not WEBHOOK_URL" in check.detail
    assert "s3cret_token" not in check.line()
