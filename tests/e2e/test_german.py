"""German is only files: a German-speaking client and therapist are served in German end to end."""

from __future__ import annotations

from story import answer_checkin, enrolled_therapist, new_person

from bot.offline.testbed import Testbed


async def test_a_german_client_checks_in_in_german(bed: Testbed) -> None:
    """Telegram says "de-AT": welcome, consent, questions, buttons and thanks come in German."""
    therapist = await enrolled_therapist(bed, "Dr. Ada Example")
    await therapist.command("invite", "lena")
    lena = new_person(bed, "Lena", "de-AT")
    await lena.command("start", therapist.link_token())
    welcome = lena.last()
    assert "Dr. Ada Example" in (welcome.text or "")
    assert "nicht in Echtzeit gelesen" in (welcome.text or "")
    assert "nicht Ende-zu-Ende-verschlüsselt" in (welcome.text or "")
    await lena.press("✅ Ich stimme zu")

    await therapist.command("session", "lena")
    await bed.advance(minutes=60)
    question = lena.last()
    assert "gehört und ernst genommen" in (question.text or "")
    assert [t.split(" · ")[0] for t in question.button_texts] == ["5", "4", "3", "2", "1"]
    assert question.button_texts[0] == "5 · Völlig"

    await answer_checkin(lena, "4", "4", "3", "4")
    assert lena.last().button_texts == ["Nein", "Ein wenig", "Stark"]
    await lena.press("Ein wenig")
    assert lena.last().button_texts == ["Ja", "Teilweise", "Nein"]
    await lena.press("Nein")
    assert any("Überspringen" in b for b in lena.last().button_texts)
    await lena.press("Überspringen")
    assert lena.last_text().startswith("Danke!")
    assert "nicht ganz besprochen" in lena.last_text()


async def test_a_therapist_can_switch_to_german(bed: Testbed) -> None:
    """/language offers Deutsch; afterwards the therapist's help is German."""
    therapist = await enrolled_therapist(bed)
    await therapist.command("language")
    await therapist.press("Deutsch")
    assert "Deutsch" in therapist.last_text()
    await therapist.command("help")
    assert "Ihre Befehle" in therapist.last_text()
