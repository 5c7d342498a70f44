"""Texts.label: a fixed text (a button's label, a tap's notice) rendered once and reused,
always the very text ``plain`` gives for the same locale and values."""

from __future__ import annotations

import pytest

from bot.texts import Texts


@pytest.mark.parametrize("locale", ["en", "de", "es"])
def test_a_label_is_the_plain_text_for_its_locale_and_values(locale: str) -> None:
    texts = Texts()
    for number, label in [(5, "Completely"), (1, "Not at all"), (5, "Völlig & ganz")]:
        first = texts.label(locale, "checkin.scale_button", number=number, label=label)
        assert first == texts.plain(locale, "checkin.scale_button", number=number, label=label)
        assert str(number) in first and label in first
        # Asked again: the same text, without rendering it again.
        assert texts.label(locale, "checkin.scale_button", number=number, label=label) == first
    assert texts.label(locale, "checkin.saved") == texts.plain(locale, "checkin.saved")


def test_a_label_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = Texts()
    rendered: list[str] = []
    original = texts.render

    def counting(locale: str, key: str, **context: object) -> str:
        rendered.append(key)
        return original(locale, key, **context)

    monkeypatch.setattr(texts, "render", counting)
    for _ in range(3):
        texts.label("en", "buttons.skip")
        texts.label("de", "buttons.skip")
    assert rendered == ["buttons.skip", "buttons.skip"]
    assert texts.label("en", "buttons.skip") != texts.label("de", "buttons.skip")
