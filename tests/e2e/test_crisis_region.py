"""Crisis numbers follow the place: the client's own country first, the rest folded away."""

from __future__ import annotations

from datetime import UTC, datetime

from story import enrolled_client, enrolled_therapist, new_person, story_testbed

from bot.core.crisis import country_of_timezone, for_country, load_crisis_resources
from bot.offline.testbed import Testbed

START = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # midday in Madrid


def _folded(message_entities: tuple[dict[str, object], ...]) -> bool:
    return any(e["type"] == "expandable_blockquote" for e in message_entities)


async def test_an_english_speaker_in_madrid_gets_spains_numbers_first(database_url: str) -> None:
    """A Madrid practice, an English-speaking client: 112 and Spain's 024 come first, the
    US/UK/AU numbers are folded below; a client in the US gets 911 and 988 first."""
    async with story_testbed(database_url, START, default_timezone="Europe/Madrid") as bed:
        therapist = await enrolled_therapist(bed)
        await therapist.command("timezone", "Europe/Madrid")
        alex = await enrolled_client(bed, therapist, "alex")
        before = len(alex.messages())
        await alex.says("i just want to die tonight")
        reply = alex.messages()[before]
        text = reply.text or ""
        assert text.index("024") < text.index("911") < text.index("988")
        assert text.index("112") < text.index("911")
        assert _folded(reply.entities), "the other countries' numbers are folded"
        assert "Other countries" in text

        # A client the practice moved to New York: after the bot has seen them, US first.
        sam = new_person(bed, "Sam")
        await therapist.command("timezone", "America/New_York")
        await therapist.command("invite", "sam")
        await sam.command("start", therapist.link_token())
        await sam.press("✅")
        await sam.says("hello")
        before = len(sam.messages())
        await sam.says("i just want to die tonight")
        text = sam.messages()[before].text or ""
        assert text.index("911") < text.index("988") < text.index("Other countries")
        assert text.index("Other countries") < text.index("999") and "024" not in text


async def test_without_a_known_place_every_number_stays_in_view(bed: Testbed) -> None:
    """A practice in UTC and an unknown writer: nothing is folded, every number shows."""
    stranger = new_person(bed, "Kim")
    await stranger.says("i just want to die tonight")
    reply = stranger.last()
    assert not _folded(reply.entities)
    assert "911" in (reply.text or "") and "116 123" in (reply.text or "")


def test_for_country_orders_and_dedupes_across_languages() -> None:
    """Spain from the English file: Spain's services (found in the Spanish file) first,
    112 once, and every other English entry still listed after them."""
    english = load_crisis_resources("en")
    others = [load_crisis_resources("es"), load_crisis_resources("de")]
    regional = for_country(english, country_of_timezone("Europe/Madrid"), others)
    phones = [r.phone for r in regional.local]
    assert phones[0] == "112" and "024" in phones and phones.count("112") == 1
    assert {r.phone for r in regional.elsewhere} >= {"911", "999", "000", "988"}
    assert "112" not in {r.phone for r in regional.elsewhere}
    assert regional.directories and regional.directories[0].kind == "directory"
    nowhere = for_country(english, country_of_timezone("Asia/Tokyo"), others)
    assert nowhere.local == () and len(nowhere.elsewhere) == len(english.resources) - 1
    assert country_of_timezone("UTC") is None and country_of_timezone("Europe/Vienna") == "AT"
