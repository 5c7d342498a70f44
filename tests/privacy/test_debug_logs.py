"""LOG_LEVEL=DEBUG never logs a bound SQL parameter, on either database.

SQLAlchemy hides bound parameters (``hide_parameters``), but a database driver may log
every call it makes, arguments included: aiosqlite does at DEBUG. The bot holds the
drivers' loggers at INFO like the other chatty libraries (bot.ops.apply_log_format).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from story import answer_checkin, enrolled_client, enrolled_therapist

from bot.cli import configure_logging
from bot.offline.testbed import Testbed
from bot.ops import CHATTY_LOGGERS

# Written to the database as bound parameters: a therapist's name and a client's alias.
THERAPIST_NAME = "Dr. Quokka Paramvalue"
ALIAS = "lanternalias"
# The stand-in is the test's Telegram, not the bot: its logs may show what it received.
NOT_THE_BOT = ("bot.offline.standin", "aiohttp")


@pytest.fixture
def debug_logging(bed: Testbed, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture everything at DEBUG under the bot's own logging policy, then restore it."""
    names = ["", *CHATTY_LOGGERS]
    saved = {name: logging.getLogger(name).level for name in names}
    caplog.set_level(logging.DEBUG)
    configure_logging(bed.settings().model_copy(update={"log_level": "DEBUG"}))
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("debug_logging")
async def test_debug_logs_hold_no_sql_parameter(
    bed: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """Enrolment, a session and answers at DEBUG: the name and the alias, both stored,
    appear in no log line of the bot or its libraries."""
    therapist = await enrolled_therapist(bed, THERAPIST_NAME)
    alex = await enrolled_client(bed, therapist, ALIAS)
    await therapist.command("session", ALIAS)
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "3")

    records = [r for r in caplog.records if not r.name.startswith(NOT_THE_BOT)]
    assert any(r.levelno == logging.DEBUG for r in records), "DEBUG was really on"
    for record in records:
        text = record.getMessage()
        assert THERAPIST_NAME not in text, record.name
        assert ALIAS not in text, record.name
