"""The relationship conversation as a tracked event, end to end through the stand-in.

The weekly digest suggests a conversation and offers one-tap answers; the therapist
answers after /session; the client's next check-in asks whether they talked; the next
digest reports the repair with its numbers and, in the week holding the 1st, the
month's summary counted from the stored records. Forged, stale, another therapist's
and erased-client taps change nothing and get a short answer. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from checks import db_snapshot, drain, rows
from story import Person, answer_checkin, enrolled_client, enrolled_therapist, story_testbed

from bot.offline.standin.models import ChatMessage
from bot.offline.testbed import Testbed
from storage.models import Answer, Client, ConversationAnswer, ConversationSuggestion

STEADY = ("5", "5", "5", "5", "No", "Skip")
DIP = ("2", "4", "4", "4", "No", "Skip")
SUPPORT_DIP = ("2", "4", "4", "4", "No", "4", "Skip")  # the 4th check-in asks about support
INVALID = "This button doesn't work here."
STALE = "This question is no longer current: nothing was changed."


def at(day: int, month: int = 6, hour: int = 7) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


async def checkin(bed: Testbed, therapist: Person, client: Person, alias: str, *taps: str) -> None:
    """A session ends now; its check-in comes an hour later and is answered at once."""
    await therapist.command("session", alias)
    await bed.advance(minutes=60)
    await answer_checkin(client, *taps)


def digest_parts(therapist: Person, count: int) -> list[ChatMessage]:
    """The text messages of the digest sent after the first ``count`` messages."""
    return [m for m in therapist.messages()[count:] if m.text is not None]


async def strained_alex(bed: Testbed, therapist: Person, alex: Person) -> None:
    """Three steady weekly check-ins (Tuesdays 2–16 June), then bond drops to 2 (23 June)."""
    for day in (2, 9, 16):
        bed.clock.set(at(day))
        await checkin(bed, therapist, alex, "alex", *STEADY)
    bed.clock.set(at(23))
    await checkin(bed, therapist, alex, "alex", *SUPPORT_DIP)


async def test_talked_about_it_the_client_confirms_and_the_next_digest_reports_the_repair(
    bed: Testbed,
) -> None:
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await strained_alex(bed, therapist, alex)

    # Monday 29 June 08:00: the weekly digest shows the suggestion in full, with the answers.
    count = len(therapist.messages())
    bed.clock.set(at(29, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    first = digest_parts(therapist, count)
    text = "\n".join(m.text or "" for m in first)
    assert "Consider a relationship conversation\nalex · felt heard 5→2 · since Jun 23" in text
    assert first[-1].button_texts == [
        "🗣 alex",
        "alex: talked",
        "alex: not yet",
        "alex: not needed",
    ]
    assert all(not m.button_texts for m in first[:-1])
    # The name opens the detail, with the same three answers for this one client.
    count = len(therapist.messages())
    await therapist.press("🗣 alex", first[-1])
    detail = [m for m in therapist.messages()[count:] if m.text is not None]
    assert "Felt heard and respected: 2/5, usually 5" in (detail[0].text or "")
    assert detail[-1].button_texts == ["✅ We talked about it", "⏳ Not yet", "➖ Not needed"]

    notice = await therapist.press("alex: not yet", first[-1])
    assert notice == "Saved"
    assert therapist.last_text() == (
        "Noted: not yet with alex. The digest keeps it as one line until you answer."
    )
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert (suggestion.answer, suggestion.closed_at) == ("not_yet", None)

    # Tuesday 30 June: after /session the therapist is asked what happened, and answers.
    bed.clock.set(at(30))
    count = len(therapist.messages())
    await therapist.command("session", "alex")
    offer = therapist.messages()[count:][-1]
    assert offer.text == "Did you talk with alex about how things are going between you?"
    assert offer.button_texts == ["✅ We talked about it", "⏳ Not yet", "➖ Not needed"]
    assert await therapist.press("✅ We talked about it", offer) == "Saved"
    assert therapist.last_text().startswith(
        "Noted: you talked with alex about your work together on Jun 30, 2026."
    )

    # The client's check-in asks the loop's question after the tension question.
    await bed.advance(minutes=60)
    await answer_checkin(alex, "5", "5", "5", "5", "No")
    question = alex.message_with_buttons()
    assert question.text is not None and "talk about how the work together is going" in (
        question.text
    )
    assert question.button_texts == ["Yes", "Partly", "No"]
    await answer_checkin(alex, "Yes", "Skip")

    # Another June suggestion, for sam, answered "Not needed" and eased since, is on record.
    await enrolled_client(bed, therapist, "sam")
    assert bed.services is not None
    async with bed.services.db.session() as session:
        sam = [c for c in await rows(bed, Client) if c.alias == "sam"][0]
        session.add(
            ConversationSuggestion(
                client_id=sam.id or 0,
                therapist_id=sam.therapist_id,
                created_at=at(15, hour=8),
                domains="tension",
                answer="not_needed",
                answered_at=at(15, hour=9),
                first_shown_at=at(15, hour=8),
                closed_at=at(22, hour=8),
                outcome="eased",
            )
        )

    # Monday 6 July: the repair, with when and the numbers; the week holds 1 July, so the
    # June summary comes too, counted from what is stored.
    count = len(therapist.messages())
    bed.clock.set(at(6, month=7, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    second = digest_parts(therapist, count)
    text = "\n".join(m.text or "" for m in second)
    assert "🗣 0 to talk with · 👀 0 to watch · 🌱 1 better" in text
    assert (
        "alex — talked on Jun 30, 2026; since then Felt heard and respected 2 → 5. "
        "A repair: the kind that goes with better outcomes." in text
    )
    assert "Consider a relationship conversation" not in text
    assert (
        "📅 June 2026: 2 relationship conversations suggested, 1 held, "
        "1 followed by improvement within a month. Not needed: 1." in text
    )
    assert all(not m.button_texts for m in second), "nothing left to answer"
    suggestion = [s for s in await rows(bed, ConversationSuggestion) if s.client_id != sam.id][0]
    assert (suggestion.answer, suggestion.outcome) == ("held", "repaired")
    assert suggestion.improved_at == at(30)
    taps = await rows(bed, ConversationAnswer)
    assert [(t.answer, t.via) for t in taps] == [("not_yet", "digest"), ("held", "digest")]

    # The first digest's buttons are stale now: a tap changes nothing and says so.
    before = await db_snapshot(bed)
    assert await therapist.press("alex: not needed", first[-1]) == STALE
    assert await db_snapshot(bed) == before

    # /client shows the loop's history; /export adds the conversation records.
    count = len(therapist.messages())
    await therapist.command("client", "alex")
    view = "\n".join(m.text or "" for m in therapist.messages()[count:])
    assert "Relationship conversations" in view
    assert (
        "• suggested Jun 29, 2026 (Felt heard and respected): talked on Jun 30, 2026; "
        "client: yes; better after (Jul 6, 2026)" in view
    )
    count = len(therapist.messages())
    await therapist.command("export")
    files = [m for m in therapist.messages()[count:] if m.document is not None]
    assert [f.filename for f in files] == [
        "alliance-checkins-2026-07-06.csv",
        "alliance-conversations-2026-07-06.csv",
    ]
    checkins = list(csv.DictReader(io.StringIO((files[0].document or b"").decode("utf-8-sig"))))
    assert [r["item_talked_relationship"] for r in checkins] == ["", "", "", "", "2"]
    records = list(csv.DictReader(io.StringIO((files[1].document or b"").decode("utf-8-sig"))))
    assert [r["alias"] for r in records] == ["sam", "alex"]
    record = records[1]
    assert record["alias"] == "alex" and record["suggested_at"] == "2026-06-29 08:00"
    assert (record["answer"], record["client_said"], record["outcome"]) == (
        "held",
        "yes",
        "repaired",
    )
    assert record["before"] == "2" and record["domains"].startswith("bond")
    assert record["answers"] == "not_yet@2026-06-29 08:00; held@2026-06-30 07:00"


async def test_forged_and_other_therapists_taps_change_nothing(bed: Testbed) -> None:
    therapist = await enrolled_therapist(bed)
    other = await enrolled_therapist(bed, "Dr. Bo Other")
    alex = await enrolled_client(bed, therapist, "alex")
    await strained_alex(bed, therapist, alex)
    count = len(therapist.messages())
    bed.clock.set(at(29, hour=8))
    await bed.tick()
    await drain(bed)
    carrier = digest_parts(therapist, count)[-1]
    [suggestion] = await rows(bed, ConversationSuggestion)
    held = f"k:{suggestion.id}:h"
    assert held in [b.data for b in carrier.buttons]

    before = await db_snapshot(bed)
    # Data no button ever had: an unknown suggestion, and a reason nobody offered.
    assert await therapist.press_data(carrier.message_id, "k:999999:h", strict=False) == INVALID
    assert (
        await therapist.press_data(carrier.message_id, f"k:{suggestion.id}:n:free", strict=False)
        == INVALID
    )
    # A reason for a "Not needed" that was never given.
    assert (
        await therapist.press_data(carrier.message_id, f"k:{suggestion.id}:n:usual", strict=False)
        == STALE
    )
    # Another therapist replaying alex's button from their own chat.
    await other.command("help")
    assert await other.press_data(other.last().message_id, held, strict=False) == INVALID
    # The client pressing it.
    await alex.command("help")
    assert await alex.press_data(alex.last().message_id, held, strict=False) == INVALID
    assert await db_snapshot(bed) == before


async def test_not_needed_with_a_reason_quiets_the_digest_and_erasure_takes_the_records(
    bed: Testbed,
) -> None:
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await strained_alex(bed, therapist, alex)
    count = len(therapist.messages())
    bed.clock.set(at(29, hour=8))
    await bed.tick()
    await drain(bed)
    carrier = digest_parts(therapist, count)[-1]

    assert await therapist.press("alex: not needed", carrier) == "Saved"
    ask = therapist.message_with_buttons()
    assert "A short reason? (optional)" in (ask.text or "")
    assert ask.button_texts == [
        "Usual for them",
        "About life outside therapy",
        "Addressed another way",
        "Later, I'm watching it",
        "No reason",
    ]
    assert await therapist.press("Usual for them", ask) == "Saved"
    assert therapist.last().message_id == ask.message_id, "the question became the answer"
    assert therapist.last_text() == (
        "Noted: not needed with alex (usual for them). The digest stays quiet about this "
        "strain until Jul 27, 2026 unless it deepens."
    )
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert (suggestion.answer, suggestion.reason) == ("not_needed", "usual")

    # The same dip again next week: listed to watch, in one line, with no answers to give.
    bed.clock.set(at(30))
    # The first check-in since the suggestion asks the loop's question: "No".
    await checkin(bed, therapist, alex, "alex", "2", "4", "4", "4", "No", "No", "Skip")
    count = len(therapist.messages())
    bed.clock.set(at(6, month=7, hour=8))
    await bed.tick()
    await drain(bed)
    parts = digest_parts(therapist, count)
    text = "\n".join(m.text or "" for m in parts)
    assert "Consider a relationship conversation" not in text
    assert "Worth watching\nalex · not needed, quiet until Jul 27" in text
    assert [m.button_texts for m in parts] == [[]], "no answers left to give, no detail"

    # The records are data about the client: /mydata includes them.
    await alex.command("mydata")
    document = alex.messages()[-2]
    data = json.loads(document.document or b"")
    [record] = data["relationship_conversations"]
    assert record["about"][0] == "bond" and record["therapist_answer"] == "not_needed"
    assert record["reason"] == "usual" and record["outcome"] is None
    assert [a["answer"] for a in record["answers"]] == ["not_needed", "not_needed"]
    assert [a["reason"] for a in record["answers"]] == [None, "usual"]

    # The client erases everything: the records go too, and the old buttons say so.
    await alex.command("delete")
    await alex.press("🗑")
    assert await rows(bed, Client) == []
    assert await rows(bed, ConversationSuggestion) == []
    assert await rows(bed, ConversationAnswer) == []
    assert await therapist.press("alex: talked", carrier) == INVALID


async def test_the_clients_question_also_comes_now_and_then_without_a_suggestion(
    database_url: str,
) -> None:
    """CONVERSATION_ITEM_ONE_IN asks the loop's question in some check-ins of every client
    (here every one, with 1), so being asked says nothing about being flagged; the answer
    is stored like any other and changes no verdict."""
    async with story_testbed(database_url, at(2), conversation_item_one_in=1) as bed:
        therapist = await enrolled_therapist(bed)
        alex = await enrolled_client(bed, therapist, "alex")
        await therapist.command("session", "alex")
        await bed.advance(minutes=60)
        await answer_checkin(alex, "5", "5", "5", "5", "No")
        assert alex.message_with_buttons().button_texts == ["Yes", "Partly", "No"]
        await answer_checkin(alex, "No", "Skip")
        assert alex.last_text().startswith("Thank you!")
        assert await rows(bed, ConversationSuggestion) == []
        answers = {a.item_id: a.value for a in await rows(bed, Answer)}
        assert answers["talked_relationship"] == 0


async def test_a_tap_after_the_session_counts_that_sessions_checkin(bed: Testbed) -> None:
    """The therapist answers the prompt after /session a few minutes after the session
    ("We talked about it"); the client says they did not, and stays low twice. The talk
    was in that session, so its check-in is the first after the talk: the second low one
    brings the decision support, not a week later."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await strained_alex(bed, therapist, alex)
    bed.clock.set(at(29, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)

    # Tuesday 30 June: the session ends, the prompt comes, the tap five minutes later.
    bed.clock.set(at(30))
    count = len(therapist.messages())
    await therapist.command("session", "alex")
    offer = therapist.messages()[count:][-1]
    await bed.advance(minutes=5)
    assert await therapist.press("✅ We talked about it", offer) == "Saved"
    await bed.advance(minutes=55)
    await answer_checkin(alex, "2", "4", "4", "4", "No", "No", "Skip")

    count = len(therapist.messages())
    bed.clock.set(at(6, month=7, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    text = "\n".join(m.text or "" for m in digest_parts(therapist, count))
    assert "alex · " in text and "talked Jun 30" in text

    bed.clock.set(at(7, month=7))
    await checkin(bed, therapist, alex, "alex", *DIP)
    count = len(therapist.messages())
    bed.clock.set(at(13, month=7, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    parts = digest_parts(therapist, count)
    count = len(therapist.messages())
    await therapist.press("🗣 alex", parts[-1])
    detail = "\n".join(m.text or "" for m in therapist.messages()[count:] if m.text)
    assert (
        "alex — talked on Jun 30, 2026, and 2 check-ins since have not eased "
        "(Felt heard and respected 2 → 2).\n💡 Worth considering: look again together" in detail
    )
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert (suggestion.answer, suggestion.closed_at) == ("held", None)


async def test_a_late_talked_on_the_digest_that_finds_it_eased_is_a_repair(bed: Testbed) -> None:
    """The conversation happened, but the therapist never tapped; the next check-in is
    back at the client's usual. The digest that closes the suggestion as eased says so,
    and offers only "talked": a late tap is taken, and the therapist is told the repair
    with its numbers (not "no longer current")."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    await strained_alex(bed, therapist, alex)
    bed.clock.set(at(29, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)

    bed.clock.set(at(30))
    await checkin(bed, therapist, alex, "alex", "5", "5", "5", "5", "No", "No", "Skip")
    count = len(therapist.messages())
    bed.clock.set(at(6, month=7, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    parts = digest_parts(therapist, count)
    text = "\n".join(m.text or "" for m in parts)
    assert "still open" not in text
    assert (
        "alex — better again since the relationship conversation suggested on Jun 29, 2026, "
        "with no conversation on record. If you did talk about it, say so below." in text
    )
    assert parts[-1].button_texts == ["alex: talked"]
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert suggestion.outcome == "eased"

    bed.clock.set(at(6, month=7, hour=9))
    assert await therapist.press("alex: talked", parts[-1]) == "Saved"
    assert therapist.last_text() == (
        "Noted: you talked with alex about your work together.\n\n"
        "🌱 alex — talked on Jun 30, 2026; since then Felt heard and respected 2 → 5. "
        "A repair: the kind that goes with better outcomes."
    )
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert (suggestion.answer, suggestion.outcome) == ("held", "repaired")
    assert suggestion.improved_at == at(30)
    # Only "talked" is taken late: the other answers of the older digest are stale.
    before = await db_snapshot(bed)
    assert (
        await therapist.press_data(parts[-1].message_id, f"k:{suggestion.id}:y", strict=False)
        == STALE
    )
    assert await db_snapshot(bed) == before
    count = len(therapist.messages())
    await therapist.command("client", "alex")
    view = "\n".join(m.text or "" for m in therapist.messages()[count:])
    assert "talked on Jul 6, 2026; client: no; better after (Jul 6, 2026)" in view


async def test_a_late_talked_with_nothing_yet_on_the_domain_opens_it_again_as_held(
    bed: Testbed,
) -> None:
    """Goals fell; the next check-in was left after its first answer (bond 5), so the
    digest closes the suggestion as eased. A late "We talked about it" cannot be a repair
    yet (nothing on goals since): the suggestion is open again, held, and waits."""
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex")
    for day in (2, 9, 16):
        bed.clock.set(at(day))
        await checkin(bed, therapist, alex, "alex", *STEADY)
    bed.clock.set(at(23))
    await checkin(bed, therapist, alex, "alex", "5", "2", "5", "5", "No", "4", "Skip")
    bed.clock.set(at(29, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)

    bed.clock.set(at(30))
    await checkin(bed, therapist, alex, "alex", "5")
    await bed.advance(hours=72)  # the check-in closes with bond answered, goals not
    count = len(therapist.messages())
    bed.clock.set(at(6, month=7, hour=8))
    assert (await bed.tick()).digests == 1
    await drain(bed)
    parts = digest_parts(therapist, count)
    assert "with no conversation on record" in "\n".join(m.text or "" for m in parts)
    assert parts[-1].button_texts == ["alex: talked"]

    bed.clock.set(at(6, month=7, hour=9))
    assert await therapist.press("alex: talked", parts[-1]) == "Saved"
    assert therapist.last_text() == (
        "Noted: you talked with alex about your work together on Jul 6, 2026. "
        "Their next check-ins will show what followed."
    )
    [suggestion] = await rows(bed, ConversationSuggestion)
    assert (suggestion.answer, suggestion.closed_at, suggestion.outcome) == ("held", None, None)
