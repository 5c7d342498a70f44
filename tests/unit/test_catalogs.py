"""The gettext catalogs are whole: up to date with the templates, translated, placeholders kept.

These are the checks a translator's change has to pass (docs/translating.md):

* ``prompts/locales/messages.pot`` and every ``messages.po`` hold exactly the messages
  ``pybabel extract -F babel.cfg`` finds in ``prompts/templates`` (no new msgid left
  unextracted, none left over);
* no entry is untranslated or fuzzy (fuzzy: the English changed since it was translated);
* every ``%(name)s`` of a message appears in each of its translations;
* each catalog's plural rule is Babel's (CLDR) for its language.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.texts import (
    DEFAULT_LOCALE,
    PROMPTS_DIR,
    TEMPLATE_CATALOG,
    Texts,
    catalog_path,
    catalog_problems,
    extract_messages,
    message_problems,
    read_catalog,
)

TEXTS = Texts()
OTHERS = [locale for locale in TEXTS.locales if locale != DEFAULT_LOCALE]
TEMPLATE = extract_messages(PROMPTS_DIR)


def _ids(catalog: Catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_the_templates_have_messages() -> None:
    """Extraction finds the marked wording (a broken babel.cfg would find nothing)."""
    assert len(TEMPLATE) > 100


def test_the_template_catalog_is_up_to_date() -> None:
    """messages.pot is what extraction gives today: run `pybabel extract` after editing."""
    with (PROMPTS_DIR / "locales" / TEMPLATE_CATALOG).open("rb") as handle:
        pot = read_po(handle)
    new, gone = _ids(TEMPLATE) - _ids(pot), _ids(pot) - _ids(TEMPLATE)
    assert not new, f"not extracted yet: {sorted(new)[:10]}"
    assert not gone, f"no longer in the templates: {sorted(gone)[:10]}"


@pytest.mark.parametrize("locale", OTHERS)
def test_every_catalog_is_whole(locale: str) -> None:
    """Every message present, translated, not fuzzy, with all its placeholders."""
    problems = catalog_problems(PROMPTS_DIR, locale, TEMPLATE)
    assert not problems, f"{locale}: " + "; ".join(problems[:15])


@pytest.mark.parametrize("locale", OTHERS)
def test_plural_rules_are_the_languages_own(locale: str) -> None:
    """The Plural-Forms header is Babel's rule for the language (es has three forms)."""
    catalog = read_catalog(catalog_path(PROMPTS_DIR, locale), locale)
    assert catalog.plural_forms == Catalog(locale=locale).plural_forms
    for message in catalog:
        if message.id and message.pluralizable:
            forms = message.string
            assert isinstance(forms, tuple | list), (locale, message.id)
            assert len(forms) == catalog.num_plurals, (locale, message.id)


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """A missing catalog, an untranslated, a fuzzy and a placeholder-losing entry are named."""
    assert catalog_problems(tmp_path, "xx", TEMPLATE) == [
        f"no catalog {tmp_path.name}/locales/xx/LC_MESSAGES/messages.po"
    ]
    fuzzy = Message("Saved: %(value)s/5", "Gespeichert: %(value)s/5", context="x", flags={"fuzzy"})
    assert "fuzzy" in message_problems(fuzzy)[0]
    assert "not translated" in message_problems(Message("Hello", "", context="x"))[0]
    lost = Message("Saved: %(value)s/5", "Gespeichert.", context="x")
    assert "lacks %(value)s" in message_problems(lost)[0]
    plural = Message(("%(num)s session", "%(num)s sessions"), ("%(num)s sesión", ""))
    assert "not translated" in message_problems(plural)[0]
    whole = Message(
        ("%(num)s session", "%(num)s sessions"), ("%(num)s Sitzung", "%(num)s Sitzungen")
    )
    assert message_problems(whole) == []


def test_a_changed_english_text_is_caught(tmp_path: Path) -> None:
    """Editing a template's English without updating the catalogs fails the check."""
    root = tmp_path / "prompts"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "a.j2").write_text(
        '{% block one %}{% trans "a.one" %}Hello{% endtrans %}{% endblock %}'
    )
    folder = catalog_path(root, "de").parent
    folder.mkdir(parents=True)
    catalog_path(root, "de").write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n\n'
        'msgctxt "a.one"\nmsgid "Hello"\nmsgstr "Hallo"\n',
        encoding="utf-8",
    )
    assert catalog_problems(root, "de") == []
    assert Texts(root).render("de", "a.one") == "Hallo"
    (root / "templates" / "a.j2").write_text(
        '{% block one %}{% trans "a.one" %}Hello there{% endtrans %}{% endblock %}'
    )
    problems = catalog_problems(root, "de")
    assert any("is missing" in p for p in problems)
    assert any("no longer in the templates" in p for p in problems)
