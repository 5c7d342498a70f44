"""The admin's command line: --version, db current/history/downgrade, Alembic's own CLI,
therapist list/deactivate/reactivate, and the commands that must fail in one line.
Run as the real console entry point in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from checks import drain, rows, shown
from story import FAST_PACE, enrolled_client, enrolled_therapist

from bot.cli import _parser
from bot.doctor import _State, check_database
from bot.offline.standin import BotAPIStandIn
from bot.offline.testbed import Testbed
from bot.settings import ConfigError, load_settings
from storage.crypto import generate_key
from storage.migrate import head_revisions
from storage.models import Therapist

ROOT = Path(__file__).resolve().parents[2]
HEAD = head_revisions()[0]
POSTGRES_ADMIN = os.environ.get(
    "ALLIANCE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


async def cli(*args: str, cwd: Path, module: str = "bot", **settings: str) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` (or another module) with these settings in the environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("TELEGRAM_", "DATABASE_", "ENCRYPTION_", "SOURCE_"))
    }
    env.update({key.upper(): value for key, value in settings.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("alliance-checkin: "), err
    return lines[0]


async def test_version_names_the_installed_package(tmp_path: Path) -> None:
    """`alliance-checkin --version` prints the version pip installed."""
    code, out, _err = await cli("--version", cwd=tmp_path)
    assert code == 0
    assert out == f"alliance-checkin {version('alliance-checkin')}\n"


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *_subparsers(child)]
    return found


def test_every_subcommand_help_page_starts_with_what_it_does() -> None:
    """`alliance-checkin COMMAND --help` has a description line, not only the usage."""
    pages = _subparsers(_parser())
    assert len(pages) >= 17
    for page in pages:
        assert page.description, f"{page.prog} --help has no description"
        assert page.description[0].isupper() and page.description.endswith(".")
        assert " ".join(page.description.split()) in " ".join(page.format_help().split())


async def test_db_current_history_downgrade_and_up_again(database_url: str, tmp_path: Path) -> None:
    """current says where the schema stands; history lists every revision with the mark;
    downgrade -1 goes one step back (current then says one is pending); upgrade restores."""
    keys = {"database_url": database_url, "encryption_keys": generate_key()}
    code, out, err = await cli("db", "current", cwd=tmp_path, **keys)
    assert (code, out) == (0, f"{HEAD} (current: the newest this version ships)\n"), err

    code, out, _ = await cli("db", "history", cwd=tmp_path, **keys)
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed[0] == "0001" and listed[-1] == HEAD
    [marked] = [line for line in out.splitlines() if "<- the database is here" in line]
    assert marked.startswith(HEAD)

    code, out, err = await cli("db", "downgrade", "-1", cwd=tmp_path, **keys)
    assert code == 0, err
    previous = listed[-2]
    assert out == f"database downgraded from {HEAD} to {previous}\n"
    code, out, _ = await cli("db", "current", cwd=tmp_path, **keys)
    assert code == 1
    assert out == f"{previous} (1 migration(s) pending: `alliance-checkin db upgrade`)\n"

    code, _out, err = await cli("db", "downgrade", "nonsense", cwd=tmp_path, **keys)
    assert code == 2 and "no revision 'nonsense'" in _one_line(err)

    code, out, err = await cli("db", "upgrade", cwd=tmp_path, **keys)
    assert code == 0 and out == "database is up to date\n", err
    assert "alembic.runtime.plugins" not in err and "Context impl" not in err
    assert f"Running upgrade {previous} -> {HEAD}" in err


async def test_alembic_s_own_command_line_works_from_the_project(
    database_url: str, tmp_path: Path
) -> None:
    """alembic.ini at the project root: `alembic current` reads DATABASE_URL as the bot does."""
    code, out, err = await cli(
        "-c",
        str(ROOT / "alembic.ini"),
        "current",
        cwd=ROOT,
        module="alembic",
        database_url=database_url,
    )
    assert code == 0, err
    assert out.strip() == f"{HEAD} (head)"


async def test_the_admin_deactivates_and_reactivates_a_therapist(
    database_url: str, tmp_path: Path
) -> None:
    """therapist list shows id, state and clients; deactivate tells the client kindly (once
    the bot runs its queue); reactivate likewise; an unknown id is one line."""
    async with Testbed(database_url, start=datetime.now(UTC), **FAST_PACE) as bed:
        ada = await enrolled_therapist(bed, "Dr. Ada Example")
        alex = await enrolled_client(bed, ada, "alex")
        [therapist] = await rows(bed, Therapist)
        keys = {"database_url": database_url, "encryption_keys": bed.encryption_keys}

        code, out, err = await cli("therapist", "list", cwd=tmp_path, **keys)
        assert code == 0, err
        header, line = out.splitlines()
        assert header.split() == ["id", "state", "clients", "registered", "name"]
        assert re.fullmatch(
            rf"\s*{therapist.id}\s+active\s+1\s+\d{{4}}-\d\d-\d\d\s+Dr\. Ada Example", line
        )

        code, out, err = await cli(
            "therapist", "deactivate", str(therapist.id), cwd=tmp_path, **keys
        )
        assert code == 0, err
        assert out.startswith(f"therapist {therapist.id} deactivated")
        # The command line queued the notes at its own (real) time; the bot's clock follows.
        bed.clock.advance(timedelta(minutes=1))
        await drain(bed)
        assert alex.last_text() == shown(bed, "admin.client_therapist_away", name="Dr. Ada Example")
        assert ada.last_text() == shown(bed, "admin.therapist_deactivated")
        code, out, _ = await cli("therapist", "list", cwd=tmp_path, **keys)
        assert " deactivated " in out.splitlines()[1]
        code, out, _ = await cli("therapist", "deactivate", str(therapist.id), cwd=tmp_path, **keys)
        assert (code, out) == (0, f"therapist {therapist.id} is already deactivated\n")

        code, out, err = await cli(
            "therapist", "reactivate", str(therapist.id), cwd=tmp_path, **keys
        )
        assert code == 0 and out.startswith(f"therapist {therapist.id} reactivated"), err
        bed.clock.advance(timedelta(minutes=1))
        await drain(bed)
        assert alex.last_text() == shown(bed, "admin.client_therapist_back", name="Dr. Ada Example")

        code, _out, err = await cli("therapist", "deactivate", "999", cwd=tmp_path, **keys)
        assert code == 2
        assert _one_line(err) == (
            "alliance-checkin: no therapist with id 999: `alliance-checkin therapist list`"
        )


async def test_therapist_list_on_an_empty_practice_says_so(
    database_url: str, tmp_path: Path
) -> None:
    """No therapists yet: a sentence pointing at therapist-invite, not an empty table."""
    code, out, _ = await cli(
        "therapist", "list", cwd=tmp_path, database_url=database_url, encryption_keys=generate_key()
    )
    assert code == 0
    assert out.startswith("no therapists yet")


async def _missing_database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'never-created.db'}"
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/alliance_missing_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_commands_on_a_missing_database_fail_in_one_line(
    backend: str, tmp_path: Path, database_url: str
) -> None:
    """audit, db current, therapist list before the database exists: one line naming it,
    never a traceback, and nothing created (audit used to print 80 lines)."""
    if not database_url.startswith(backend.replace("postgres", "postgresql")):
        pytest.skip("one backend per parameter")
    url = await _missing_database_url(backend, tmp_path)
    for command in (["audit"], ["db", "current"], ["therapist", "list"]):
        code, out, err = await cli(
            *command, cwd=tmp_path, database_url=url, encryption_keys=generate_key()
        )
        assert code == 2 and out == "", err
        line = _one_line(err)
        if backend == "sqlite":
            assert "no database file at" in line and "db upgrade" in line
        else:
            assert "has no database named 'alliance_missing_" in line, line
    assert not (tmp_path / "never-created.db").exists()


async def test_audit_on_an_empty_log_says_so(database_url: str, tmp_path: Path) -> None:
    """An empty audit log prints one sentence (it used to print nothing at all)."""
    code, out, err = await cli(
        "audit",
        "--days",
        "7",
        cwd=tmp_path,
        database_url=database_url,
        encryption_keys=generate_key(),
    )
    assert code == 0, err
    assert out == "no audit events in the last 7 days\n"


async def test_therapist_invite_checks_the_token_before_creating_a_database(
    tmp_path: Path,
) -> None:
    """A rejected token: one line, and no database file left behind."""
    path = tmp_path / "alliance.db"
    async with BotAPIStandIn() as standin:
        code, out, err = await cli(
            "therapist-invite",
            "--name",
            "Dr. Ada Example",
            cwd=tmp_path,
            telegram_bot_token="999999:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
            telegram_api_base_url=standin.base_url,
            database_url=f"sqlite+aiosqlite:///{path}",
            encryption_keys=generate_key(),
        )
    assert code == 2 and out == ""
    assert _one_line(err) == "alliance-checkin: TELEGRAM_BOT_TOKEN was rejected by Telegram"
    assert not path.exists(), "the database was created before the token was checked"


async def test_the_doctor_names_a_missing_postgresql_database(database_url: str) -> None:
    """PostgreSQL answers but the database is not there: the doctor says so, by name."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    missing = database_url.rsplit("/", 1)[0] + "/alliance_nowhere"
    state = _State(settings=load_settings(database_url=missing))
    check = await check_database(state)
    assert check.status == "FAIL"
    assert "answers, but has no database named 'alliance_nowhere'" in check.detail
    assert "createdb" in check.detail and "DBAPIError" not in check.detail


async def test_the_doctor_says_when_nothing_listens(database_url: str) -> None:
    """A PostgreSQL URL at a port where nothing listens: "nothing answers", not a class name."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    state = _State(settings=load_settings(database_url="postgresql+asyncpg://u@127.0.0.1:1/x"))
    check = await check_database(state)
    assert check.status == "FAIL"
    assert check.detail.startswith("nothing answers at PostgreSQL at 127.0.0.1:1"), check.detail


def test_a_token_ending_in_test_token_gets_no_carve_out() -> None:
    """Settings.require_token once accepted anything ending in TEST-TOKEN; the stand-in now
    uses a token of the real shape, and production checks every token the same way."""
    with pytest.raises(ConfigError, match="does not look like a bot token"):
        load_settings(telegram_bot_token="123456:TEST-TOKEN").require_token()
    assert load_settings(telegram_bot_token=BotAPIStandIn().token).require_token()
