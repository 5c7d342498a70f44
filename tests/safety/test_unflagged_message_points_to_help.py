"""A message outside a check-in that the risk detector does not flag still points to help.

The detector misses some risk language (docs/risk-language.md gives the held-out figures).
Such a message must not be answered only with "your therapist won't see this": the reply
also says, in one line, where to turn if the person is thinking of hurting themselves.
"""

from __future__ import annotations

import pytest
from story import enrolled_client, enrolled_therapist

from bot.core.risk import assess_risk
from bot.offline.testbed import Testbed

# Indirect phrasings of the kind the detector cannot read (context from earlier messages).
UNFLAGGED = {
    "en": "I don't think I'll make it to our next session",
    "es": "No creo que llegue a la próxima sesión",
    "de": "Ich glaube nicht, dass ich es bis zur nächsten Sitzung schaffe",
}
HELP_LINE = {
    "en": (
        "If you are thinking of hurting yourself or of not wanting to live, please reach out"
        " now: call your local emergency number or a crisis line (findahelpline.com lists"
        " the ones in your country)."
    ),
    "es": (
        "Si piensas en hacerte daño o en no querer vivir, pide ayuda ahora: llama al número"
        " de emergencias de tu zona o a una línea de crisis (findahelpline.com indica las de"
        " tu país)."
    ),
    "de": (
        "Wenn Sie daran denken, sich etwas anzutun, oder nicht mehr leben möchten, holen Sie"
        " sich bitte jetzt Hilfe: über den Notruf (112) oder ein Krisentelefon"
        " (findahelpline.com nennt die Angebote in Ihrem Land)."
    ),
}
NOT_SEEN = {
    "en": "your therapist won't see this message",
    "es": "tu terapeuta no verá este mensaje",
    "de": "diese Nachricht sieht Ihre Therapeutin bzw. Ihr Therapeut also nicht",
}


@pytest.mark.parametrize("language", ["en", "es", "de"])
async def test_an_unflagged_stray_message_gets_a_line_pointing_to_help(
    bed: Testbed, language: str
) -> None:
    """Alex writes between check-ins, unflagged: one reply, honest about the therapist, and
    with a line saying where to get help now."""
    text = UNFLAGGED[language]
    assert not assess_risk(text).at_risk, "the premise: the detector does not flag it"
    therapist = await enrolled_therapist(bed)
    alex = await enrolled_client(bed, therapist, "alex", language)
    before = len(alex.messages())

    await alex.says(text)

    replies = [m.text or "" for m in alex.messages()[before:]]
    assert len(replies) == 1
    shown = replies[0]
    assert NOT_SEEN[language] in shown
    assert HELP_LINE[language] in shown
    assert shown.index(HELP_LINE[language]) > shown.index(NOT_SEEN[language])
