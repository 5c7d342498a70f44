"""Robustness as stories: strangers and bad links, invalid presses, repeated updates, things
that are not text, groups and channels, restarts between queueing and sending, giant and
odd text, a client who blocks the bot, and two people racing for one link."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from checks import db_snapshot, drain, rows, sends_to, shown
from sqlalchemy import update
from sqlmodel import col
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, new_person

from bot import callbacks
from bot.due_work import DispatchReport, queue_due_checkins
from bot.offline.standin import channel_chat, group_chat, supergroup_chat
from bot.offline.testbed import Testbed
from bot.practice import enrolment
from bot.practice.tokens import new_token
from bot.privacy import rights
from storage.crypto import answer_text_context
from storage.models import Answer, CheckIn, Client, Invitation, OutboxMessage, Therapist

# ----------------------------------------------------------------- strangers and bad links


async def test_strangers_and_bad_links_all_get_one_identical_reply(bed: Testbed) -> None:
    """An unknown person writing anything, and anyone opening a forged, malformed, used or
    expired link, gets the very same short text — nothing that tells enrolled from not."""
    ada = await enrolled_therapist(bed, "Dr. Ada Example")
    await ada.command("invite", "used")
    used = ada.link_token()
    taker = new_person(bed, "Taker")
    await taker.command("start", used)
    await taker.press("✅")
    await ada.command("invite", "expired")
    expired = ada.link_token()
    bed.clock.advance(days=8)

    generic = shown(bed, "common.unknown")
    assert "Ada" not in generic
    stranger = new_person(bed, "Stranger")
    attempts: list[tuple[str, tuple[str, ...]]] = [
        ("start", ()),
        ("start", (new_token(),)),
        ("start", ("short",)),
        ("start", ("x" * 64,)),
        ("start", ("<b>hi</b>",)),
        ("start", (used,)),
        ("start", (expired,)),
        ("help", ()),
        ("clients", ()),
        ("pause", ()),
        ("privacy", ()),
        ("frobnicate", ()),
    ]
    replies = []
    for name, args in attempts:
        await stranger.command(name, *args)
        replies.append(stranger.last_text())
    await stranger.says("hello, is anyone there?")
    replies.append(stranger.last_text())
    update = bed.standin.send_sticker(stranger.user)
    await bed.settled(update["update_id"])
    replies.append(stranger.last_text())
    assert replies == [generic] * len(replies)
    assert len(stranger.messages()) == len(replies), "one reply each, nothing more"

    spanish = new_person(bed, "Extraña", "es")
    await spanish.command("start", expired)
    await spanish.command("start", new_token())
    assert [m.text for m in spanish.messages()] == [shown(bed, "common.unknown", "es")] * 2


# ----------------------------------------------------------------- invalid presses


async def _open_checkins(bed: Testbed) -> tuple[Person, Person, Person]:
    """A therapist and two clients, each with an open check-in."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    kim = await enrolled_client(bed, ada, "kim")
    await ada.command("session", "alex")
    await ada.command("session", "kim")
    await bed.advance(minutes=60)
    await drain(bed)
    return ada, alex, kim


async def test_presses_that_are_not_valid_change_nothing_and_are_answered(bed: Testbed) -> None:
    """Someone else's check-in, an answered question, a value the scale does not have, a skip
    of a required question, a check-in that does not exist, forged consent or stop data,
    plain junk: each press gets a short answer, and neither the database nor the check-in
    message changes."""
    ada, alex, kim = await _open_checkins(bed)
    await alex.press("4")  # bond answered
    by_client = {c.alias: c.id or 0 for c in await rows(bed, Client)}
    ids = {c.client_id: c.id for c in await rows(bed, CheckIn)}
    alex_checkin, kim_checkin = ids[by_client["alex"]], ids[by_client["kim"]]
    alex_message = alex.message_with_buttons()
    kim_message = kim.message_with_buttons()
    invalid = shown(bed, "common.button_invalid")
    minute = rights.minute_of(bed.clock.now())
    cases: list[tuple[Person, Any, str, str]] = [
        (kim, kim_message, callbacks.answer(alex_checkin or 0, "bond", 5), invalid),
        (alex, alex_message, callbacks.answer(alex_checkin or 0, "bond", 1), "Already answered"),
        (alex, alex_message, callbacks.answer(alex_checkin or 0, "goals", 9), invalid),
        (alex, alex_message, callbacks.answer(alex_checkin or 0, "goals", None), invalid),
        (alex, alex_message, callbacks.answer(alex_checkin or 0, "nonsense", 3), invalid),
        (alex, alex_message, callbacks.answer(999_999, "goals", 3), invalid),
        (alex, alex_message, callbacks.consent(True, new_token()), invalid),
        (alex, alex_message, "garbage", invalid),
        (alex, alex_message, "a:1:bond", invalid),
        (alex, alex_message, "", invalid),
        (ada, ada.last(), callbacks.answer(kim_checkin or 0, "bond", 5), invalid),
        (ada, ada.last(), callbacks.stop(True, by_client["alex"] or 0, minute), invalid),
    ]
    before = await db_snapshot(bed)
    for person, message, data, expected in cases:
        shown_before = (message.text, message.reply_markup)
        answer = await person.press_data(message.message_id, data, strict=False)
        assert expected in answer, (data, answer)
        assert await db_snapshot(bed) == before, data
        now = next(m for m in person.messages() if m.message_id == message.message_id)
        assert (now.text, now.reply_markup) == shown_before, f"{data} changed the message"


async def test_a_press_on_an_expired_checkin_says_it_closed(bed: Testbed) -> None:
    """Three days later the check-in has closed: a press is answered and stores nothing."""
    _ada, alex, _kim = await _open_checkins(bed)
    await bed.advance(hours=73)
    before = await db_snapshot(bed)
    answer = await alex.press("5")
    assert answer == shown(bed, "checkin.closed")
    assert await db_snapshot(bed) == before


async def test_a_stranger_pressing_forged_buttons_changes_nothing(bed: Testbed) -> None:
    """Someone unknown forges presses on the one message they have from the bot."""
    _ada, _alex, _kim = await _open_checkins(bed)
    stranger = new_person(bed, "Stranger")
    await stranger.command("start")
    message = stranger.last()
    before = await db_snapshot(bed)
    minute = rights.minute_of(bed.clock.now())
    for data in (
        callbacks.answer(1, "bond", 5),
        callbacks.stop(True, 1, minute),
        callbacks.language("es"),
    ):
        answer = await stranger.press_data(message.message_id, data, strict=False)
        assert answer == shown(bed, "common.button_invalid")
    assert await db_snapshot(bed) == before


# ----------------------------------------------------------------- the same update twice


async def _deliver_twice(bed: Testbed, update: dict[str, Any]) -> Counter[int]:
    """Deliver an already queued update a second time with the same update_id (as Telegram
    may after a timeout), then wait until the bot has handled both copies."""
    assert bed.app is not None
    seen: Counter[int] = Counter()
    both = asyncio.Event()
    original = bed.app.on_processed  # type: ignore[attr-defined]

    def count(update_id: int) -> None:
        seen[update_id] += 1
        if seen[update["update_id"]] >= 2:
            both.set()
        original(update_id)

    # Installed before anything is awaited, so the first copy is counted too.
    bed.app.on_processed = count  # type: ignore[attr-defined]
    try:
        bed.standin.inject_update(update)
        try:
            await asyncio.wait_for(both.wait(), 10)
        except TimeoutError:
            raise AssertionError("the bot did not handle both copies") from None
    finally:
        bed.app.on_processed = original  # type: ignore[attr-defined]
    return seen


async def test_a_command_delivered_twice_has_one_effect(bed: Testbed) -> None:
    """/invite alex arrives twice with the same update_id: one link, one reply."""
    ada = await enrolled_therapist(bed)
    replies_before = len(ada.messages())
    update = bed.standin.send_command(ada.user, "invite", "alex")
    seen = await _deliver_twice(bed, update)
    assert seen[update["update_id"]] == 2, "the bot really received both copies"
    assert len(ada.messages()) == replies_before + 1
    assert len([i for i in await rows(bed, Invitation) if i.kind == "client"]) == 1


async def test_a_button_press_delivered_twice_has_one_effect(bed: Testbed) -> None:
    """The same press twice: one answer stored, the question advanced once."""
    _ada, alex, _kim = await _open_checkins(bed)
    message = alex.message_with_buttons()
    data = bed.standin.find_button(alex.chat_id, message.message_id, "5")
    update = bed.standin.press(alex.user, message.message_id, data)
    seen = await _deliver_twice(bed, update)
    assert seen[update["update_id"]] == 2
    answers = await rows(bed, Answer)
    assert [(a.item_id, a.value) for a in answers] == [("bond", 5)]
    assert "worked on what matters" in alex.last_text()


async def test_a_session_delivered_twice_records_one_session(bed: Testbed) -> None:
    """/session alex twice with one update_id: one session, one reply."""
    ada = await enrolled_therapist(bed)
    await enrolled_client(bed, ada, "alex")
    replies_before = len(ada.messages())
    update = bed.standin.send_command(ada.user, "session", "alex")
    await _deliver_twice(bed, update)
    assert len(ada.messages()) == replies_before + 1
    assert len(await rows(bed, CheckIn)) == 1


# ----------------------------------------------------------------- not text, edits, groups


async def test_stickers_photos_voice_and_files_get_a_kind_pointer(bed: Testbed) -> None:
    """Mid check-in, a sticker, a photo, a voice note and a file each get one short reply;
    nothing is stored and the check-in carries on."""
    _ada, alex, _kim = await _open_checkins(bed)
    await alex.press("4")
    before = await db_snapshot(bed)
    sends = [
        bed.standin.send_sticker(alex.user),
        bed.standin.send_photo(alex.user, caption="my notes"),
        bed.standin.send_voice(alex.user),
        bed.standin.send_document(alex.user),
    ]
    for sent in sends:
        await bed.settled(sent["update_id"])
        assert alex.last_text() == shown(bed, "common.not_text")
    assert await db_snapshot(bed) == before
    await answer_checkin(alex, "4", "4", "4", "No", "Skip")
    assert any((m.text or "").startswith("Thank you!") for m in alex.messages())


async def test_text_typed_mid_checkin_points_to_the_buttons(bed: Testbed) -> None:
    """Typing during the button questions is not taken as the note; the reply says where
    the note goes instead of claiming nobody will see it."""
    _ada, alex, _kim = await _open_checkins(bed)
    before = await db_snapshot(bed)
    await alex.says("it was ok I guess")
    assert alex.last_text() == shown(bed, "checkin.use_buttons", can_go_back=False)
    assert await db_snapshot(bed) == before


async def test_edited_messages_are_not_taken_and_say_so(bed: Testbed) -> None:
    """A client edits the note they sent: the stored note stays as sent, the client is told.
    A stranger's edit gets no reply at all."""
    _ada, alex, _kim = await _open_checkins(bed)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    await alex.says("first version")
    note = next(m for m in bed.standin.messages(alex.chat_id) if m.text == "first version")
    [stored_before] = [a for a in await rows(bed, Answer) if a.item_id == "comment"]
    edit = bed.standin.edit_text(alex.user, note.message_id, "second version")
    await bed.settled(edit["update_id"])
    assert alex.last_text() == shown(bed, "common.edits_ignored")
    [stored] = [a for a in await rows(bed, Answer) if a.item_id == "comment"]
    assert stored.text_ciphertext == stored_before.text_ciphertext

    stranger = new_person(bed, "Stranger")
    await stranger.says("hi")
    mine = next(m for m in bed.standin.messages(stranger.chat_id) if m.text == "hi")
    count = len(stranger.messages())
    edit = bed.standin.edit_text(stranger.user, mine.message_id, "hello")
    await bed.settled(edit["update_id"])
    assert len(stranger.messages()) == count


async def test_in_a_group_a_command_gets_one_private_chats_only_reply(bed: Testbed) -> None:
    """A therapist tries /invite in a group: one reply there, nothing else happens; ordinary
    group chatter and a stranger's /start in a supergroup get no check-in machinery either."""
    ada = await enrolled_therapist(bed)
    group = group_chat(-4001, "Practice team")
    bed.standin.add_chat(group)
    before = await db_snapshot(bed)
    private_before = len(ada.messages())
    await ada.command("invite", "alex", chat=group)
    group_messages = [m for m in bed.standin.sent_to(group.id)]
    assert [m.text for m in group_messages] == [shown(bed, "common.private_only")]
    await ada.says("see you all tomorrow", chat=group)
    await ada.says("/start@" + bed.standin.bot_username, chat=group)
    assert len(bed.standin.sent_to(group.id)) == 2, "chatter gets nothing, commands one reply"
    assert len(ada.messages()) == private_before, "nothing in the private chat"
    assert await db_snapshot(bed) == before

    supergroup = supergroup_chat(-1001234567890)
    bed.standin.add_chat(supergroup)
    stranger = new_person(bed, "Stranger")
    await stranger.command("start", new_token(), chat=supergroup)
    assert [m.text for m in bed.standin.sent_to(supergroup.id)] == [
        shown(bed, "common.private_only")
    ]
    assert await db_snapshot(bed) == before


ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": False,
    "can_manage_video_chats": False,
    "can_restrict_members": False,
    "can_promote_members": False,
    "can_change_info": False,
    "can_invite_users": False,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_post_messages": True,
}


async def test_added_to_a_group_the_bot_says_once_it_works_in_private(bed: Testbed) -> None:
    """Someone adds the bot to a group: one message there. Made admin of a channel: silence."""
    adder = new_person(bed, "Adder")
    me = {
        "id": bed.standin.bot_id,
        "is_bot": True,
        "first_name": "Alliance",
        "username": bed.standin.bot_username,
    }
    group, channel = group_chat(-4002, "Friends"), channel_chat(-1009876543210, "News")
    for chat, new_member in (
        (group, {"status": "member", "user": me}),
        (channel, {"status": "administrator", "user": me, **ADMIN_RIGHTS}),
    ):
        bed.standin.add_chat(chat)
        update = bed.standin.inject_update(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": adder.user.to_dict(),
                    "date": 1,
                    "old_chat_member": {"status": "left", "user": me},
                    "new_chat_member": new_member,
                }
            }
        )
        await bed.settled(update["update_id"])
    assert [m.text for m in bed.standin.sent_to(group.id)] == [shown(bed, "common.private_only")]
    assert bed.standin.sent_to(channel.id) == []


async def test_channel_posts_are_ignored(bed: Testbed) -> None:
    """A post in a channel the bot is in gets no reply and changes nothing."""
    channel = channel_chat(-1001111111111)
    bed.standin.add_chat(channel)
    before = await db_snapshot(bed)
    poster = new_person(bed, "Poster")
    for text in ("/start", "/invite alex", "hello channel"):
        update = bed.standin.send_text(poster.user, text, chat=channel)
        await bed.settled(update["update_id"])
    assert bed.standin.sent_to(channel.id) == []
    assert await db_snapshot(bed) == before


# ----------------------------------------------------------------- restarts


async def test_a_restart_after_queueing_and_before_sending_loses_nothing(bed: Testbed) -> None:
    """The check-in is written to the outbox, then the bot stops before sending. After the
    restart it is sent once; later runs send nothing more."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await drain(bed)
    await ada.command("session", "alex")
    bed.clock.advance(minutes=60)
    report = DispatchReport()
    await queue_due_checkins(bed.services, bed.clock.now(), report)
    assert report.queued == 1
    assert [r.status for r in await rows(bed, OutboxMessage) if r.kind == "checkin"] == ["pending"]

    await bed.restart()
    await drain(bed)
    for _ in range(3):
        assert (await bed.advance(minutes=5)).sent == 0
    assert len([m for m in alex.messages() if "felt heard" in (m.text or "")]) == 1
    await answer_checkin(alex, "5", "5", "5", "5", "No", "Skip")
    assert alex.last_text().startswith("Thank you!")


async def test_a_restart_while_a_send_was_in_hand_sends_it_once(bed: Testbed) -> None:
    """A worker had taken the check-in (lease running) and died before Telegram got it.
    Until the lease runs out nobody else sends it; afterwards it goes out exactly once."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await drain(bed)
    await ada.command("session", "alex")
    bed.clock.advance(minutes=60)
    await queue_due_checkins(bed.services, bed.clock.now(), DispatchReport())
    async with bed.services.db.session() as session:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.kind) == "checkin")
            .values(
                status="sending",
                lease_owner="a-worker-that-died",
                lease_until=bed.clock.now() + timedelta(minutes=5),
            )
        )

    await bed.restart()
    assert (await bed.tick()).sent == 0, "another worker's lease is respected"
    bed.clock.advance(minutes=6)
    await drain(bed)
    await drain(bed)
    assert len([m for m in alex.messages() if "felt heard" in (m.text or "")]) == 1
    [checkin] = await rows(bed, CheckIn)
    assert checkin.status == "sent" and checkin.message_id is not None
    await alex.press("4")
    assert [a.item_id for a in await rows(bed, Answer)] == ["bond"]


# ----------------------------------------------------------------- giant and odd text


async def _at_comment(bed: Testbed) -> tuple[Person, Person]:
    """A client whose check-in waits for the optional note."""
    ada, alex, _kim = await _open_checkins(bed)
    await answer_checkin(alex, "4", "4", "4", "4", "No")
    return ada, alex


async def _stored_comment(bed: Testbed) -> str:
    [answer] = [a for a in await rows(bed, Answer) if a.item_id == "comment"]
    [checkin] = [c for c in await rows(bed, CheckIn) if c.id == answer.checkin_id]
    assert answer.text_ciphertext is not None
    context = answer_text_context(checkin.id or 0, checkin.client_id, "comment")
    return bed.services.cipher.decrypt(answer.text_ciphertext, context=context)


async def test_a_comment_of_4096_characters_is_kept_whole(bed: Testbed) -> None:
    """The longest message Telegram allows is stored in full (encrypted) and closes the check-in."""
    _ada, alex = await _at_comment(bed)
    text = ("It felt rushed at the end. " * 200)[:4096]
    await alex.says(text)
    assert alex.last_text() == shown(bed, "checkin.comment_saved")
    assert await _stored_comment(bed) == text
    [checkin] = [c for c in await rows(bed, CheckIn) if c.status == "completed"]
    assert checkin.closed_at is not None


async def test_right_to_left_zero_width_and_emoji_comments_are_kept_exactly(bed: Testbed) -> None:
    """Hebrew and Arabic, zero-width joiners and emoji sequences arrive unchanged."""
    _ada, alex = await _at_comment(bed)
    text = "שלום — مرحبا 👩‍👧 a\u200bb\u200dc \u202eoops\u202c 🙂🙃💔"
    await alex.says(text)
    assert await _stored_comment(bed) == text
    assert alex.last_text() == shown(bed, "checkin.comment_saved")


async def test_a_right_to_left_alias_works_end_to_end(bed: Testbed) -> None:
    """A therapist who writes Hebrew uses a Hebrew alias: invite, join, session, overview."""
    ada = await enrolled_therapist(bed)
    alias = "אלכס"
    client = await enrolled_client(bed, ada, alias)
    assert "all set" in client.last_text()
    await ada.command("session", alias)
    assert "recorded" in ada.last_text()
    await bed.advance(minutes=60)
    await drain(bed)
    assert "felt heard" in client.last_text()
    await ada.command("clients")
    assert f"{alias} — active" in ada.last_text()


async def test_giant_text_from_anyone_else_gets_the_usual_short_reply(bed: Testbed) -> None:
    """4,096 characters from a therapist or a stranger: the ordinary pointer, nothing stored."""
    ada = await enrolled_therapist(bed)
    stranger = new_person(bed, "Stranger")
    before = await db_snapshot(bed)
    await ada.says("x" * 4096)
    assert ada.last_text() == shown(bed, "therapist.text_hint")
    await stranger.says("ÿ" * 4096)
    assert stranger.last_text() == shown(bed, "common.unknown")
    assert await db_snapshot(bed) == before


# ----------------------------------------------------------------- a client who blocks the bot


async def test_a_client_who_blocked_the_bot_is_marked_and_not_retried(bed: Testbed) -> None:
    """Alex blocks the bot without the bot noticing; the check-in's send fails with 403:
    Alex is marked unreachable, the therapist is told, and nothing is tried again — not this
    check-in, not next week's."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await drain(bed)
    sent_before = sends_to(bed, alex.chat_id)  # the welcome
    bed.standin.block_user(alex.chat_id, notify=False)
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    assert sends_to(bed, alex.chat_id) == sent_before + 1
    [client] = await rows(bed, Client)
    assert client.unreachable_at is not None
    [checkin] = await rows(bed, CheckIn)
    assert checkin.status == "cancelled"
    assert ada.last_text() == shown(bed, "therapist.client_unreachable", alias="alex")

    for _ in range(3):
        await bed.advance(hours=1)
    bed.clock.advance(days=7)
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    assert sends_to(bed, alex.chat_id) == sent_before + 1, "never tried again"
    await ada.command("clients")
    assert "has blocked the bot" in ada.last_text()


async def test_a_block_seen_at_once_and_an_unblock_resumes_checkins(bed: Testbed) -> None:
    """Telegram tells the bot about the block: no send is even tried. When Alex writes to
    the bot again (unblocking it), check-ins resume."""
    ada = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, ada, "alex")
    await drain(bed)
    sent_before = sends_to(bed, alex.chat_id)
    bed.standin.block_user(alex.chat_id, notify=True)
    await _settle_last(bed)
    [client] = await rows(bed, Client)
    assert client.unreachable_at is not None
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    assert sends_to(bed, alex.chat_id) == sent_before

    bed.clock.advance(days=7)
    await alex.says("hi again")  # writing unblocks the bot, as Telegram's "Restart" does
    [client] = await rows(bed, Client)
    assert client.unreachable_at is None
    await ada.command("session", "alex")
    await bed.advance(minutes=60)
    await drain(bed)
    assert "felt heard" in alex.last_text()


async def _settle_last(bed: Testbed) -> None:
    """Wait until the newest update queued (one the stand-in made up) has been handled."""
    newest = bed.standin.last_update_id
    assert newest is not None, "no update was queued"
    await bed.settled(newest)


# ----------------------------------------------------------------- racing for one link


async def test_two_people_pressing_i_agree_at_once_one_wins(bed: Testbed) -> None:
    """A link was forwarded: two people open it and press "I agree" at the same moment.
    Exactly one becomes the client; the other gets the generic reply."""
    ada = await enrolled_therapist(bed)
    await ada.command("invite", "alex")
    token = ada.link_token()
    first, second = new_person(bed, "First"), new_person(bed, "Second")
    for person in (first, second):
        await person.command("start", token)
    presses = []
    for person in (first, second):
        welcome = person.message_with_buttons().message_id
        agree = bed.standin.find_button(person.chat_id, welcome, "✅")
        presses.append(bed.standin.press(person.user, welcome, agree))
    await asyncio.gather(*(bed.settled(p["update_id"]) for p in presses))
    texts = sorted([first.last_text(), second.last_text()])
    assert texts == sorted([shown(bed, "client.consent_agreed"), shown(bed, "common.unknown")])
    [client] = await rows(bed, Client)
    winner = first if "all set" in first.last_text() else second
    assert client.telegram_user_id == winner.user.id


async def test_concurrent_redemptions_of_one_client_link_have_one_winner(bed: Testbed) -> None:
    """Called truly concurrently (as with several workers), of two people agreeing with the
    same link exactly one wins — five times over; a double tap by one person is one enrolment."""
    services = bed.services
    await enrolled_therapist(bed)
    [therapist] = await rows(bed, Therapist)
    for round_ in range(5):
        invited = await enrolment.invite_client(services, therapist, f"race{round_}")
        assert invited.token is not None
        outcomes = await asyncio.gather(
            *(
                enrolment.answer_consent(services, user, user, "en", invited.token, True)
                for user in (7_000_000 + 2 * round_, 7_000_001 + 2 * round_)
            )
        )
        assert sorted(outcomes) == ["agreed", "invalid"], outcomes

    invited = await enrolment.invite_client(services, therapist, "double")
    assert invited.token is not None
    outcomes = await asyncio.gather(
        *(
            enrolment.answer_consent(services, 7_100_000, 7_100_000, "en", invited.token, True)
            for _ in range(2)
        )
    )
    assert outcomes == ["agreed", "agreed"]
    clients = [c for c in await rows(bed, Client) if c.telegram_user_id == 7_100_000]
    assert len(clients) == 1


async def test_concurrent_redemptions_of_one_therapist_link_have_one_winner(
    bed: Testbed,
) -> None:
    """Two people open one therapist invitation at the same instant: one therapist."""
    services = bed.services
    for round_ in range(5):
        token = await enrolment.create_therapist_invitation(services, f"Dr. Race {round_}")
        results = await asyncio.gather(
            *(
                enrolment.start_with_token(services, user, user, "en", token)
                for user in (8_000_000 + 2 * round_, 8_000_001 + 2 * round_)
            )
        )
        assert sorted(r.status for r in results) == ["invalid", "therapist_registered"]
    assert len(await rows(bed, Therapist)) == 5
