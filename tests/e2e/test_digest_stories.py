"""The therapist's side as stories: weekly digest, /digest, /client, /export, alerts, ratings.

Each story drives the real bot through the Bot API stand-in on SQLite and PostgreSQL:
sessions are recorded with /session, clients answer by tapping buttons and typing,
and time moves only when the test moves it.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from story import FAST_PACE, Person, answer_checkin, enrolled_client, enrolled_therapist
from telegram import Bot

from bot.core.digest import TELEGRAM_MESSAGE_LIMIT, visible_length
from bot.due_work import run_due_work
from bot.offline.standin.models import ChatMessage
from bot.offline.testbed import Testbed
from bot.services import Services
from storage.crypto import Cipher
from storage.db import Database
from storage.models import Alert, AuditEvent, Client, DigestRun, SessionRating

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = timedelta(days=7)
STEADY = ("5", "5", "5", "5", "No", "Skip")
# The transparent bond opener, thanking Alex for the note left in the check-in.
OPENER_BOND = (
    "Thank you for the note you left in the check-in. Your check-in after last time "
    "suggested you felt less heard than usual."
)


async def weekly_checkin(
    bed: Testbed,
    therapist: Person,
    client: Person,
    alias: str,
    *choices: str,
    comment: str | None = None,
) -> None:
    """A session ends, its check-in comes an hour later, the client answers at once."""
    await therapist.command("session", alias)
    await bed.advance(minutes=60)
    await answer_checkin(client, *choices)
    if comment is not None:
        await client.says(comment)


def since(person: Person, count: int) -> list[ChatMessage]:
    """The bot's messages to a person after the first ``count`` ones."""
    return person.messages()[count:]


def digests(person: Person) -> list[ChatMessage]:
    """The digest headers a therapist has received (each digest begins with one)."""
    return [m for m in person.messages() if (m.text or "").startswith("Alliance digest")]


def alerts_about(person: Person, alias: str) -> list[ChatMessage]:
    """Immediate strain alerts about one client."""
    return [
        m
        for m in person.messages()
        if "strong sign of strain" in (m.text or "") and (m.text or "").startswith(f"⚠️ {alias}")
    ]


def rating_questions(person: Person) -> list[ChatMessage]:
    """The rating questions a therapist was asked (answered ones now show the rating)."""
    marks = ("Your view of the session", "You rated the session with")
    return [m for m in person.messages() if any(mark in (m.text or "") for mark in marks)]


def assert_fits_telegram(messages: list[ChatMessage]) -> None:
    """Every message was accepted by the stand-in's HTML parser and is within the limit."""
    for message in messages:
        if message.html is not None:
            assert visible_length(message.html) <= TELEGRAM_MESSAGE_LIMIT
        assert len(message.text or "") <= TELEGRAM_MESSAGE_LIMIT


async def test_the_weekly_digest_comes_once_at_local_time_across_the_october_change(
    database_url: str,
) -> None:
    """Monday 08:00 in Berlin is 06:00 UTC in summer time and 07:00 UTC after the clocks go
    back on 25 October: the digest comes at 08:00 local both weeks, once, even after a
    restart and with the dispatcher running again and again."""
    start = datetime(2026, 10, 14, 10, 0, tzinfo=UTC)  # a Wednesday
    async with Testbed(database_url, start=start, **FAST_PACE) as bed:
        therapist = await enrolled_therapist(bed)
        await therapist.command("timezone", "Europe/Berlin")
        await enrolled_client(bed, therapist, "alex")

        bed.clock.set(datetime(2026, 10, 19, 5, 59, tzinfo=UTC))  # Monday 07:59 CEST
        assert (await bed.tick()).digests == 0
        assert digests(therapist) == []

        bed.clock.set(datetime(2026, 10, 19, 6, 0, tzinfo=UTC))  # 08:00 CEST
        assert (await bed.tick()).digests == 1
        assert len(digests(therapist)) == 1
        assert "alex" in therapist.last_text()

        await bed.restart()
        for _ in range(3):
            assert (await bed.advance(minutes=20)).digests == 0
        assert len(digests(therapist)) == 1

        bed.clock.set(datetime(2026, 10, 26, 6, 0, tzinfo=UTC))  # 07:00 CET: not yet
        assert (await bed.tick()).digests == 0
        bed.clock.set(datetime(2026, 10, 26, 6, 59, tzinfo=UTC))
        assert (await bed.tick()).digests == 0
        assert len(digests(therapist)) == 1

        bed.clock.set(datetime(2026, 10, 26, 7, 0, tzinfo=UTC))  # 08:00 CET
        assert (await bed.tick()).digests == 1
        arrived = digests(therapist)
        assert len(arrived) == 2
        local = datetime.fromtimestamp(arrived[-1].date, tz=UTC)
        assert bed.clock.now() - local < timedelta(minutes=1)
        assert (await bed.advance(hours=1)).digests == 0
        assert len(digests(therapist)) == 2
        async with bed.services.db.session() as session:
            runs = (await session.exec(select(DigestRun))).all()
        assert sorted(run.slot_at for run in runs) == [
            datetime(2026, 10, 19, 6, 0, tzinfo=UTC),
            datetime(2026, 10, 26, 7, 0, tzinfo=UTC),
        ]


async def test_two_workers_on_one_database_send_the_weekly_digest_once(bed: Testbed) -> None:
    """A second worker (its own engine, worker id and bot connection, same database and
    clock) runs the dispatcher at the very same moment: one digest, one slot taken."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    for _ in range(3):
        await weekly_checkin(bed, therapist, alex, "alex", *STEADY)
        await bed.advance(days=1)
    # The fourth check-in also asks about support from people close to the client.
    await weekly_checkin(bed, therapist, alex, "alex", "2", "4", "4", "4", "No", "4", "Skip")
    before = len(digests(therapist))

    second = Services(
        settings=bed.services.settings,
        db=Database(bed.database_url),
        clock=bed.clock,
        cipher=Cipher.from_setting(bed.encryption_keys),
        worker_id="worker-b",
    )
    monday = bed.clock.now().astimezone(UTC)
    monday += timedelta(days=(7 - monday.weekday()) % 7 or 7)
    bed.clock.set(monday.replace(hour=8, minute=0, second=0, microsecond=0))
    try:
        async with Bot(bed.standin.token, base_url=bed.standin.base_url) as bot:
            reports = await asyncio.gather(bed.tick(), run_due_work(second, bot))
            assert sum(report.digests for report in reports) == 1
            for _ in range(2):
                bed.clock.advance(minutes=5)
                again = await asyncio.gather(bed.tick(), run_due_work(second, bot))
                assert sum(report.digests for report in again) == 0
    finally:
        await second.db.dispose()
    assert len(digests(therapist)) == before + 1
    with_name = [
        m
        for m in therapist.messages()
        if any(b.text == "🗣 alex" for row in m.reply_markup or [] for b in row)
    ]
    assert len(with_name) == 1, "the triage with alex's button, sent once"
    async with bed.services.db.session() as session:
        assert len((await session.exec(select(DigestRun))).all()) == 1


async def test_digest_names_the_strain_suggests_a_conversation_and_reports_a_repair(
    bed: Testbed,
) -> None:
    """Alex's bond drops after three steady weeks and Alex says why; Sam has a session with a
    lot of tension, not talked through (an immediate alert, once), then a good one in which
    a tension was talked through (repair is confirmed, not inferred: issue 11). /digest
    is a one-screen triage: Alex on one line under "relationship conversation" with a
    button, Sam under good news, Kim (invited only) under not started. Tapping Alex brings
    the numbers, the comment, a bond opener that thanks for the note, and the chart."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    sam = await enrolled_client(bed, therapist, "sam")
    await therapist.command("invite", "kim")
    for _ in range(3):
        await weekly_checkin(bed, therapist, alex, "alex", *STEADY)
        await weekly_checkin(bed, therapist, sam, "sam", *STEADY)
        await bed.advance(days=7, hours=-2)

    dipped = ("2", "4", "4", "4", "No", "4")  # the fourth check-in also asks about support
    await weekly_checkin(bed, therapist, alex, "alex", *dipped, comment="I felt rushed & <unheard>")
    await weekly_checkin(bed, therapist, sam, "sam", "2", "2", "3", "3", "A lot", "No", "4", "Skip")
    await bed.tick()
    assert len(alerts_about(therapist, "sam")) == 1, "severe strain: one immediate alert"
    assert alerts_about(therapist, "alex") == [], "a dip in one domain waits for the digest"
    assert "Consider a relationship conversation" in (alerts_about(therapist, "sam")[0].text or "")

    await bed.advance(days=7, hours=-2)  # the weekly digest suggests a conversation with both
    triage = digests(therapist)[-1]
    weekly = triage.text or ""
    assert OPENER_BOND not in weekly and "I felt rushed" not in weekly, "details wait for a tap"
    lines = weekly.splitlines()
    talk = lines.index("🗣 Consider a relationship conversation")
    # Sam first: the immediate alert this week is marked ⚠️.
    assert lines[talk + 1].startswith("⚠️ sam · a lot of tension, not talked through · since ")
    assert lines[talk + 2].startswith("alex · felt heard 5→2 · since ")
    assert "⏳ Not started: kim" in lines
    assert triage.reply_markup is not None
    names = [b.text for row in triage.reply_markup for b in row if b.text.startswith("🗣")]
    assert names == ["🗣 sam", "🗣 alex"]

    count = len(therapist.messages())
    assert await therapist.press("🗣 alex", triage) == ""
    detail = since(therapist, count)
    assert_fits_telegram(detail)
    shown = "\n".join(m.text or "" for m in detail if not m.photo)
    assert shown.startswith("alex · since")
    assert "Felt heard and respected: 2/5, usually 5" in shown
    assert "“I felt rushed & <unheard>”" in shown, "the comment, shown literally"
    assert OPENER_BOND in shown
    photos = [m for m in detail if m.photo]
    assert len(photos) == 1 and photos[0].photo and photos[0].photo.startswith(b"\x89PNG")
    caption = photos[0].caption or ""
    assert "alex" in caption and "Pink columns" in caption and "Grey columns" in caption

    # The first check-in since also asks whether they talked about the relationship.
    await weekly_checkin(
        bed, therapist, sam, "sam", "5", "5", "5", "5", "A little", "Yes", "Yes", "Skip"
    )
    await bed.tick()
    assert len(alerts_about(therapist, "sam")) == 1, "still one alert"

    count = len(therapist.messages())
    await therapist.command("digest")
    reply = since(therapist, count)
    assert_fits_telegram(reply)
    assert not [m for m in reply if m.photo], "charts come with a detail, when asked"
    text = reply[0].text or ""
    assert text.startswith("Alliance digest for Dr. Ada Example")
    lines = text.splitlines()
    talk = lines.index("🗣 Consider a relationship conversation")
    # Suggested in last week's digest and not answered yet: still one line, now "open since".
    assert lines[talk + 1].startswith("alex · felt heard 5→2 · open since ")
    assert [line for line in lines if line.startswith("🌱 sam — talked on")], "sam said so"
    assert "⏳ Not started: kim" in lines
    assert OPENER_BOND not in text

    async with bed.services.db.session() as session:
        alerts = (await session.exec(select(Alert))).all()
        actions = [e.action for e in (await session.exec(select(AuditEvent))).all()]
    assert [a.dedupe_key.split(":")[0] for a in alerts] == ["strain"]
    assert "read_digest" in actions
    assert "read_client" in actions, "opening a detail is audited like /client"


async def test_a_hostile_4000_character_comment_is_escaped_and_split(bed: Testbed) -> None:
    """Markup in a long comment is shown as typed, never interpreted: quoted briefly in the
    digest's detail, in full in /client, which splits it over messages at Telegram's limit."""
    therapist = await enrolled_therapist(bed)
    eve = await enrolled_client(bed, therapist, "eve")
    hostile = ("<b>bold</b> &amp; <i>x</i> </pre> <a href='x'>link</a> & " * 80)[:4000]
    await weekly_checkin(bed, therapist, eve, "eve", "2", "3", "3", "3", "No", comment=hostile)

    await therapist.command("digest")
    count = len(therapist.messages())
    await therapist.press("🗣 eve")
    reply = since(therapist, count)
    assert_fits_telegram(reply)
    digest = "\n".join(m.text or "" for m in reply)
    assert "<b>bold</b> &amp; <i>x</i>" in digest, "escaped, then shown literally"
    assert "…”" in digest, "a long comment is quoted, not reproduced"

    count = len(therapist.messages())
    await therapist.command("client", "eve")
    reply = since(therapist, count)
    texts = [m for m in reply if not m.photo]
    assert len(texts) >= 2, "the full comment does not fit one message"
    assert_fits_telegram(reply)
    shown = "".join(m.text or "" for m in texts)
    assert shown.count("<b>bold</b>") >= 70
    assert hostile[:200] in shown and hostile[-60:].strip() in shown
    assert (texts[0].text or "").startswith("eve — active")


async def test_client_history_and_csv_export(bed: Testbed) -> None:
    """/client shows one client's check-ins newest first with a chart; /export gives a CSV
    of every check-in with item and domain scores, tension and severity."""
    therapist = await enrolled_therapist(bed)
    await therapist.command("timezone", "Europe/Berlin")
    alex = await enrolled_client(bed, therapist, "alex")
    await enrolled_client(bed, therapist, "sam")
    for _ in range(3):
        await weekly_checkin(bed, therapist, alex, "alex", *STEADY)
        await bed.advance(days=7, hours=-1)
    ended = bed.clock.now()
    await weekly_checkin(
        bed, therapist, alex, "alex", "2", "3", "4", "4", "A little", "Partly", "4", "Skip"
    )
    await therapist.command("session", "sam")
    await bed.advance(hours=30)  # sam's check-in stays open

    count = len(therapist.messages())
    await therapist.command("client", "alex")
    reply = since(therapist, count)
    text = "\n".join(m.text or "" for m in reply if not m.photo)
    assert text.startswith("alex — active")
    assert "4 of 4 check-ins answered" in text
    assert "Consider a relationship conversation" in text
    assert text.index("Felt heard 2") < text.index("Felt heard 5"), "newest first"
    assert "a little tension, partly talked through" in text
    photos = [m for m in reply if m.photo]
    assert len(photos) == 1 and (photos[0].photo or b"").startswith(b"\x89PNG")

    await therapist.command("client")
    assert "/client alias" in therapist.last_text()
    await therapist.command("client", "nobody")
    assert "no client called nobody" in therapist.last_text()

    count = len(therapist.messages())
    await therapist.command("export")
    document = since(therapist, count)[-1]
    assert document.document is not None and (document.filename or "").endswith(".csv")
    assert "2 clients" in (document.caption or "") and "Europe/Berlin" in (document.caption or "")
    rows = list(csv.DictReader(io.StringIO(document.document.decode("utf-8-sig"))))
    assert [(r["alias"], r["checkin"]) for r in rows] == [
        ("alex", "1"),
        ("alex", "2"),
        ("alex", "3"),
        ("alex", "4"),
        ("sam", "1"),
    ]
    last = rows[3]
    assert (last["item_bond"], last["item_goals"], last["domain_bond"]) == ("2", "3", "2")
    assert (last["tension"], last["talked_through"]) == ("a_little", "partly")
    assert last["severity"] == "conversation" and rows[0]["severity"] == "steady"
    assert last["overall"] == "3.25" and last["status"] == "completed"
    assert last["session_end"] == ended.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
    assert last["timezone"] == "Europe/Berlin"
    assert rows[4]["status"] == "pending" and rows[4]["severity"] == ""
    assert "comment" not in "".join(rows[0].keys()).replace("comment_left", "")

    async with bed.services.db.session() as session:
        actions = [e.action for e in (await session.exec(select(AuditEvent))).all()]
    assert "read_client" in actions and "export" in actions


async def test_a_therapist_cannot_see_another_therapists_clients(bed: Testbed) -> None:
    """Ada and Ben each have a client. Ada's /client, /export and /digest never show Ben's
    client or words, and a forged rating of Ben's session changes nothing."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    ben = await enrolled_therapist(bed, "Dr. Ben Sample")
    alex = await enrolled_client(bed, ada, "alex")
    bobby = await enrolled_client(bed, ben, "bobby")
    await ben.command("rate", "on")
    await weekly_checkin(bed, ada, alex, "alex", "4", "4", "4", "4", "No", comment="from ada")
    await weekly_checkin(
        bed, ben, bobby, "bobby", "2", "2", "2", "2", "No", comment="secret-from-bens-client"
    )

    await ada.command("client", "bobby")
    assert "no client called bobby" in ada.last_text()
    count = len(ada.messages())
    await ada.command("digest")
    seen = " ".join(m.text or m.caption or "" for m in since(ada, count))
    assert "alex" in seen and "bobby" not in seen and "secret" not in seen
    await ada.command("export")
    document = ada.last().document or b""
    assert b"alex" in document and b"bobby" not in document

    prompt = next(m for m in ben.messages() if "Your view of the session" in (m.text or ""))
    forged = prompt.buttons[0].data or ""
    answer = await ada.press_data(ada.last().message_id, forged, strict=False)
    assert answer == bed.services.texts.plain("en", "common.button_invalid")
    async with bed.services.db.session() as session:
        assert (await session.exec(select(SessionRating))).all() == []


async def test_the_therapists_own_rating_and_where_views_differ(bed: Testbed) -> None:
    """Ratings are off until /rate on. Then each session — recorded or scheduled — is followed
    by a one-tap question; a 5 against the client's 3s is pointed out in the digest."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await therapist.command("rate")
    assert "is off" in therapist.last_text()
    await therapist.command("session", "alex")
    assert "recorded" in therapist.last_text(), "no rating question while off"
    await bed.advance(minutes=60)
    await answer_checkin(alex, "4", "4", "4", "4", "No", "Skip")
    for _ in range(2):
        await bed.advance(days=7)
        await weekly_checkin(bed, therapist, alex, "alex", "4", "4", "4", "4", "No", "Skip")

    await therapist.command("rate", "on")
    assert "after each session" in therapist.last_text()
    await bed.advance(days=7)
    await therapist.command("session", "alex")
    question = therapist.message_with_buttons()
    assert "Your view of the session with alex" in (question.text or "")
    assert question.button_texts == ["1", "2", "3", "4", "5"]
    notice = await therapist.press("5")
    assert "5/5" in notice
    assert "You rated the session with alex 5/5" in therapist.last_text()
    await bed.advance(minutes=60)
    await answer_checkin(alex, "3", "3", "3", "3", "No", "4", "Skip")

    await therapist.command("digest")
    count = len(therapist.messages())
    await therapist.press("🗣 alex")
    text = "\n".join(m.text or "" for m in since(therapist, count))
    assert "You rated the session 5/5; their answers average 3/5" in text

    # A weekly session ends: the rating question follows it through the outbox.
    day = (bed.clock.now() + timedelta(days=2)).astimezone(UTC)
    await therapist.command("schedule", "alex", day.strftime("%A").lower(), "10:00", "50")
    bed.clock.set(day.replace(hour=10, minute=51))
    await bed.tick()
    assert len(rating_questions(therapist)) == 2
    question = therapist.message_with_buttons()
    assert "Your view of the session with alex" in (question.text or "")
    assert question.button_texts == ["1", "2", "3", "4", "5"]

    await therapist.command("rate", "off")
    await bed.advance(days=1)
    count = len(therapist.messages())
    await therapist.command("session", "alex")
    reply = since(therapist, count)
    assert "recorded" in (reply[0].text or "")
    # The digest above suggested a relationship conversation: /session asks what happened.
    assert [m.text for m in reply[1:]] == [
        "Did you talk with alex about how things are going between you?"
    ]
    assert len(rating_questions(therapist)) == 2


async def test_a_risk_message_puts_the_client_under_sos_without_openers(bed: Testbed) -> None:
    """Alex writes words of risk to the bot. The next digest puts Alex in a 🆘 group on top
    with "follow your safety procedure", not under relationship conversation, with no
    opener and no button for one; /clients marks Alex too. Another therapist pressing
    forged detail data for Alex is refused and sees nothing."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    ben = await enrolled_client(bed, therapist, "ben")
    for _ in range(3):
        await weekly_checkin(bed, therapist, alex, "alex", *STEADY)
        await weekly_checkin(bed, therapist, ben, "ben", *STEADY)
        await bed.advance(days=7, hours=-2)
    await weekly_checkin(bed, therapist, alex, "alex", "2", "2", "3", "3", "A lot", "No", "4")
    await weekly_checkin(bed, therapist, ben, "ben", "2", "4", "4", "4", "No", "4")
    await alex.says("i just want to die tonight")
    await bed.tick()

    count = len(therapist.messages())
    await therapist.command("digest")
    reply = since(therapist, count)
    assert_fits_telegram(reply)
    triage = reply[0]
    lines = (triage.text or "").splitlines()
    assert lines[1].startswith("🆘 1 · 🗣 1 to talk with")
    sos = lines.index("🆘 Risk language this week: follow your safety procedure")
    assert lines[sos + 1].startswith("alex · alert ")
    talk = lines.index("🗣 Consider a relationship conversation")
    assert sos < talk and lines[talk + 1].startswith("ben · ")
    assert [line for line in lines if line.startswith(("alex", "⚠️ alex"))] == [lines[sos + 1]]
    assert triage.reply_markup is not None
    buttons = [b.text for row in triage.reply_markup for b in row]
    # A name for ben's detail and ben's answers; nothing for alex.
    assert buttons == ["🗣 ben", "ben: talked", "ben: not yet", "ben: not needed"]
    assert "“" not in "\n".join(m.text or "" for m in reply), "no opener anywhere"
    assert all("alex" not in (m.text or "") for m in reply[1:]), "alex is not asked about"

    count = len(therapist.messages())
    await therapist.command("clients")
    listing = "\n".join(m.text or "" for m in since(therapist, count))
    alex_part = listing[listing.index("alex") : listing.index("ben")]
    assert "🆘 risk language this week: follow your safety procedure" in alex_part
    assert "🆘" not in listing[listing.index("ben") :]

    assert bed.services is not None
    async with bed.services.db.session() as session:
        client_id = (await session.exec(select(Client.id).where(Client.alias == "alex"))).one()
    other = await enrolled_therapist(bed, "Dr. Bo Other")
    await other.command("digest")
    count = len(other.messages())
    notice = await other.press_data(other.last().message_id, f"d:{client_id}", strict=False)
    assert notice == "That client is no longer in your list."
    assert since(other, count) == [], "nothing about alex reaches another therapist"
