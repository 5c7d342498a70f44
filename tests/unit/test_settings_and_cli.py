"""Settings and the command line: one clear line for every bad value, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ConfigError, load_settings
from storage.crypto import parse_keys


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come only from what each test sets (no stray .env or variables)."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "DATABASE_URL",
        "ENCRYPTION_KEYS",
        "CHECKIN_DELAY_MINUTES",
        "DISPATCH_INTERVAL_SECONDS",
        "TELEGRAM_API_BASE_URL",
        "DEFAULT_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_documented_contract() -> None:
    """SQLite by default, a one-hour delay, a 30-second dispatcher, Telegram's public API."""
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./alliance.db"
    assert settings.checkin_delay_minutes == 60
    assert settings.dispatch_interval_seconds == 30
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHECKIN_DELAY_MINUTES", "soon"),
        ("CHECKIN_DELAY_MINUTES", "-5"),
        ("DISPATCH_INTERVAL_SECONDS", "0"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("TELEGRAM_API_BASE_URL", "not a url"),
        ("DEFAULT_TIMEZONE", "Mars/Olympus"),
        ("QUIET_HOURS_START", "25:00"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """The error is one line that starts with the variable's name."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(variable)
    assert "\n" not in message


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    """A .env file in the working directory is read."""
    (tmp_path / ".env").write_text("CHECKIN_DELAY_MINUTES=15\n")
    assert load_settings().checkin_delay_minutes == 15


def test_run_without_a_token_prints_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`alliance-checkin run` with no token says what to do, without a traceback."""
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TELEGRAM_BOT_TOKEN" in err
    assert "Traceback" not in err


def test_run_without_keys_names_encryption_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token alone is not enough: free text is encrypted, so keys are required."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert main(["run"]) == 2
    assert "ENCRYPTION_KEYS" in capsys.readouterr().err


def test_a_malformed_key_is_reported_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key text never appears in the error."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    monkeypatch.setenv("ENCRYPTION_KEYS", "secret-ish-but-wrong")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "ENCRYPTION_KEYS" in err
    assert "secret-ish-but-wrong" not in err


def test_generate_key_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed key is accepted by ENCRYPTION_KEYS."""
    assert main(["generate-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert len(parse_keys(key)) == 1


def test_db_upgrade_creates_the_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alliance-checkin db upgrade` migrates an empty SQLite file, and again is a no-op."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "x.db").exists()
    assert "up to date" in capsys.readouterr().out


def test_the_console_script_is_installed() -> None:
    """`python -m bot --help` lists the contract's subcommands."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "therapist-invite", "db", "generate-key"):
        assert command in result.stdout
