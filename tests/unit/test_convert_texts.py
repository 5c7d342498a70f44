"""scripts/convert_texts.py: per-locale templates in, one template and catalogs out, same texts.

A small area in English, Spanish and German, with the shapes the real templates have
(a value, a branch, a count with its singular, a date, a separator, a value only German
uses), is converted in a scratch folder; every text then renders exactly as before in
every locale, the count has its plural forms, and a locale whose logic differs is refused
with the text named.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog

from bot.texts import PROMPTS_DIR, Texts, catalog_path, catalog_problems, read_catalog

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_texts.py"

AREA = {
    "en": (
        "{% block hello %}Hello <b>{{ name }}</b>!"
        "{% if late %} It is late.{% endif %}{% endblock %}\n"
        "{% block expires %}{% if days == 1 %}It expires in {{ days }} day."
        "{% else %}It expires in {{ days }} days.{% endif %}{% endblock %}\n"
        '{% block due %}Due {{ text("calendar.datetime", value=due) }}.{% endblock %}\n'
        '{% block list %}{% for x in items %}{{ x }}{{ " · " if not loop.last }}{% endfor %}'
        "{% endblock %}\n"
        "{% block thanks %}They have been thanked.{% endblock %}\n"
    ),
    "es": (
        "{% block hello %}¡Hola, <b>{{ name }}</b>!"
        "{% if late %} Es tarde.{% endif %}{% endblock %}\n"
        "{% block expires %}{% if days == 1 %}Caduca en {{ days }} día."
        "{% else %}Caduca en {{ days }} días.{% endif %}{% endblock %}\n"
        '{% block due %}Para el {{ text("calendar.datetime", value=due) }}.{% endblock %}\n'
        '{% block list %}{% for x in items %}{{ x }}{{ " · " if not loop.last }}{% endfor %}'
        "{% endblock %}\n"
        "{% block thanks %}Ha recibido el agradecimiento.{% endblock %}\n"
    ),
    "de": (
        "{% block hello %}Hallo <b>{{ name }}</b>!"
        "{% if late %} Es ist spät.{% endif %}{% endblock %}\n"
        "{% block expires %}{% if days == 1 %}Läuft in {{ days }} Tag ab."
        "{% else %}Läuft in {{ days }} Tagen ab.{% endif %}{% endblock %}\n"
        '{% block due %}Fällig am {{ text("calendar.datetime", value=due) }}.{% endblock %}\n'
        '{% block list %}{% for x in items %}{{ x }}{{ " · " if not loop.last }}{% endfor %}'
        "{% endblock %}\n"
        "{% block thanks %}{{ name }} hat einen Dank bekommen.{% endblock %}\n"
    ),
}
CASES = [
    {"name": "a & b", "late": True, "days": 1, "due": datetime(2026, 3, 2, 9, 5, tzinfo=UTC)},
    {"name": "Ada", "late": False, "days": 7, "due": datetime(2026, 3, 2, 9, 5, tzinfo=UTC)},
]


def _converter(root: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("convert_texts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "convert_texts", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PROMPTS", root)
    monkeypatch.setattr(module, "REWRITES", [])
    return module


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    for locale, source in AREA.items():
        (root / locale).mkdir(parents=True)
        (root / locale / "x.j2").write_text(source, encoding="utf-8")
    return root


def _render_all(texts: Texts) -> dict[tuple[str, str, int], str]:
    return {
        (locale, key, n): texts.render(locale, key, items=["a", "b"], **case)
        for locale in ("en", "es", "de")
        for key in sorted(texts.keys("en"))
        for n, case in enumerate(CASES)
    }


def test_a_converted_area_renders_as_before(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _render_all(Texts(root))
    convert = _converter(root, monkeypatch)
    template, messages = convert.convert_area("x")
    (root / "templates").mkdir()
    (root / "templates" / "x.j2").write_text(template, encoding="utf-8")
    convert.update_catalogs(messages)
    for locale in AREA:
        (root / locale / "x.j2").unlink()
    texts = Texts(root)
    assert texts.template_areas() == {"x"}
    assert _render_all(texts) == before
    assert before[("de", "x.expires", 0)] == "Läuft in 1 Tag ab."
    assert '{% trans "x.hello" name=name %}' in template
    for locale in ("es", "de"):
        assert catalog_problems(root, locale) == []


def test_a_count_becomes_plural_forms_in_each_language(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    convert = _converter(root, monkeypatch)
    _, messages = convert.convert_area("x")
    (root / "templates").mkdir()
    (root / "templates" / "x.j2").write_text(convert.convert_area("x")[0], encoding="utf-8")
    convert.update_catalogs(messages)
    spanish = read_catalog(catalog_path(root, "es"), "es")
    entry = spanish.get("It expires in %(days)s day.", context="x.expires")
    assert entry is not None
    assert entry.id[1] == "It expires in %(days)s days."
    forms = entry.string
    assert isinstance(forms, tuple)
    assert len(forms) == Catalog(locale="es").num_plurals == 3
    assert forms[0] == "Caduca en %(days)s día."


def test_different_logic_is_refused_with_the_text_named(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (root / "es" / "x.j2").read_text(encoding="utf-8")
    (root / "es" / "x.j2").write_text(source.replace("{% if late %}", "{% if not late %}"))
    convert = _converter(root, monkeypatch)
    with pytest.raises(convert.Unconvertible, match=r"x\.hello: the logic in es differs"):
        convert.convert_area("x")


def test_the_shipped_prompts_have_no_per_locale_copy_of_a_converted_area() -> None:
    """An area is in one form only: a leftover per-locale file would be silently ignored."""
    texts = Texts()
    for locale in texts.locales:
        folder = PROMPTS_DIR / locale
        left = {p.stem for p in folder.glob("*.j2")} & texts.template_areas()
        assert not left, f"{locale} still has {sorted(left)}: delete them"
