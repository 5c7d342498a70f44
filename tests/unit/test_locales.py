"""Every locale is complete: same texts, same files, same placeholders, a translated questionnaire.

Adding a language is only files (prompts/<locale>/ and the questionnaire's texts);
these tests are what tells a translator that something is still missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from bot.core.instrument import INSTRUMENTS_DIR, load_instrument
from bot.texts import PROMPTS_DIR, Texts, default_texts

TEXTS = default_texts()
LOCALES = TEXTS.locales
OTHERS = [locale for locale in LOCALES if locale != "en"]


def test_there_are_at_least_two_languages() -> None:
    """English plus at least one other language, as the product promises."""
    assert LOCALES[0] == "en"
    assert len(LOCALES) >= 2


@pytest.mark.parametrize("locale", OTHERS)
def test_every_text_exists_in_every_locale(locale: str) -> None:
    """A key in one locale and not in another is a missing translation (or a stale one)."""
    english, other = TEXTS.keys("en"), TEXTS.keys(locale)
    assert not english - other, f"{locale} lacks: {sorted(english - other)}"
    assert not other - english, f"{locale} has texts English does not: {sorted(other - english)}"


@pytest.mark.parametrize("locale", OTHERS)
def test_every_locale_has_the_same_files(locale: str) -> None:
    """Data files kept per locale (templates, crisis resources …) exist in each locale."""
    english = {p.name for p in (PROMPTS_DIR / "en").iterdir() if p.is_file()}
    other = {p.name for p in (PROMPTS_DIR / locale).iterdir() if p.is_file()}
    assert english == other, f"en only: {english - other}; {locale} only: {other - english}"


def _block_variables(template: nodes.Template) -> dict[str, set[str]]:
    """The variables each block reads (minus what the block itself assigns)."""
    result: dict[str, set[str]] = {}
    for block in template.find_all(nodes.Block):
        loaded = {n.name for n in block.find_all(nodes.Name) if n.ctx == "load"}
        stored = {n.name for n in block.find_all(nodes.Name) if n.ctx in ("store", "param")}
        result[block.name] = loaded - stored
    return result


def _parsed(locale: str) -> Iterator[tuple[str, dict[str, set[str]]]]:
    env = TEXTS.env
    for path in sorted((PROMPTS_DIR / locale).glob("*.j2")):
        source = path.read_text(encoding="utf-8")
        yield path.stem, _block_variables(env.parse(source))


@pytest.mark.parametrize("locale", OTHERS)
def test_translations_use_only_the_placeholders_english_is_given(locale: str) -> None:
    """A translation reading a variable English never reads would fail when rendered."""
    english = dict(_parsed("en"))
    for area, blocks in _parsed(locale):
        for block, variables in blocks.items():
            known = english.get(area, {}).get(block, set())
            extra = variables - known - set(TEXTS.env.globals) - {"text", "loop"}
            assert not extra, f"{locale}/{area}.j2 block {block} reads {sorted(extra)}"


@pytest.mark.parametrize("path", sorted(INSTRUMENTS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_questionnaires_speak_every_locale(path: Path) -> None:
    """Every item, label and option of a shipped questionnaire has text in every locale."""
    instrument = load_instrument(path)  # rejects a listed locale without texts
    assert set(LOCALES) <= set(instrument.locales), (
        f"{path.name} lists {instrument.locales}; templates exist for {LOCALES}"
    )


def test_english_buttons_keep_their_contract_words() -> None:
    """Other tools find these buttons by their words: "I agree" and "Skip"."""
    assert "I agree" in TEXTS.plain("en", "buttons.agree")
    assert "Skip" in TEXTS.plain("en", "buttons.skip")


@pytest.mark.parametrize("locale", LOCALES)
def test_buttons_are_short_enough_for_a_phone(locale: str) -> None:
    """Button labels stay on one line of a phone screen."""
    for key in sorted(k for k in TEXTS.keys(locale) if k.startswith("buttons.")):
        assert len(TEXTS.plain(locale, key)) <= 40, f"{locale} {key}"


def test_a_missing_translation_is_caught(tmp_path: Path) -> None:
    """The comparison the tests above rely on does see a removed block."""
    root = tmp_path / "prompts"
    for locale in ("en", "xx"):
        (root / locale).mkdir(parents=True)
    (root / "en" / "a.j2").write_text(
        "{% block one %}1{% endblock %}{% block two %}2{% endblock %}"
    )
    (root / "xx" / "a.j2").write_text("{% block one %}1{% endblock %}")
    texts = Texts(root)
    assert texts.keys("en") - texts.keys("xx") == {"a.two"}
    with pytest.raises(jinja2.UndefinedError):
        texts.env.from_string("{{ missing }}").render()
