"""The one place that turns template names into user-facing text.

Texts are addressed as ``"area.block"``: the named block ``{% block welcome %}`` of the
area ``client``; a key without a dot renders the whole area. An area comes in one of two
forms:

* **one template with catalogs** (every shipped area):
  ``prompts/templates/<area>.j2`` holds the layout and logic once, its wording marked
  with ``{% trans "area.block" %}…{% endtrans %}`` (Jinja's i18n extension), and each
  language's wording is a gettext catalog, ``prompts/locales/<locale>/LC_MESSAGES/messages.po``,
  managed with Babel (``pybabel extract/update``; see docs/translating.md). English is the
  source language: its text is the ``msgid`` itself. Catalogs are compiled in memory when
  first used, so no ``.mo`` file is needed or committed.
* **one template per locale** (the older form, still served for an area a practice adds
  that way; scripts/convert_texts.py moves such an area into the catalogs):
  ``prompts/<locale>/<area>.j2``.

Templates are autoescaped because messages go out in Telegram's HTML parse mode, so
client- and therapist-given text (aliases, names, comments) can never inject markup; a
translated message is markup (it may hold ``<b>``), the values put into it are escaped.

Dates, times, weekday and month names and numbers are formatted by Babel for the locale
(``format_date``, ``format_short_date``, ``format_datetime``, ``format_day``,
``format_month_year``, ``weekday_name``, ``month_name``, ``format_number`` in templates;
``date``, ``short_date``, ``datetime`` and ``number`` here). For templates in the older
form, the keys of the old hand-made calendar texts (``calendar.date``, ``calendar.day``,
``calendar.weekday_<n>`` …) answer from Babel too.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup, escape

import prompts

PROMPTS_DIR = Path(prompts.__file__).parent
DEFAULT_LOCALE = "en"
TEMPLATES = "templates"
LOCALES = "locales"
DOMAIN = "messages"
TEMPLATE_CATALOG = "messages.pot"
# How pybabel reads the templates (the same in babel.cfg): Jinja's settings of _environment.
EXTRACT_OPTIONS = {
    "extensions": "jinja2.ext.i18n",
    "trim_blocks": "true",
    "lstrip_blocks": "true",
    "newstyle_gettext": "true",
    "silent": "false",
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# Fixed labels kept by Texts.label (locales × questions × options is far below this).
_MAX_LABELS = 4096
# The area answered by Babel rather than by a template (formerly prompts/<locale>/calendar.j2).
CALENDAR = "calendar"


def _environment(loader: jinja2.BaseLoader, i18n: bool) -> jinja2.Environment:
    """The Jinja settings every text is written for (also pybabel's, in babel.cfg)."""
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"] if i18n else [],
    )


def catalog_path(root: Path, locale: str) -> Path:
    """Where a locale's catalog lives."""
    return root / LOCALES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, locale: str) -> Catalog:
    """A .po file as Babel's catalog (raises on a file that does not parse)."""
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN, abort_invalid=True)


def compile_catalog(catalog: Catalog) -> Translations:
    """The catalog as gettext translations, compiled in memory (fuzzy entries left out)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def extract_messages(root: Path) -> Catalog:
    """Every message marked in prompts/templates, as ``pybabel extract -F babel.cfg`` finds it."""
    catalog = Catalog(project="alliance-checkin", fuzzy=False)
    folder = root / TEMPLATES
    if not folder.is_dir():
        return catalog
    found = extract_from_dir(
        str(folder),
        [("**.j2", "jinja2.ext:babel_extract")],
        {"**.j2": EXTRACT_OPTIONS},
        keywords=DEFAULT_KEYWORDS,
    )
    for filename, lineno, message, comments, context in found:
        where = f"{root.name}/{TEMPLATES}/{filename}"
        catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def _has_placeholder(text: str, name: str) -> bool:
    """``%(name)s`` is in the text; ``%(label_lower)s`` may be written ``%(label)s`` (a
    language that capitalises nouns keeps the capital)."""
    if f"%({name})" in text:
        return True
    return name.endswith("_lower") and f"%({name.removesuffix('_lower')})" in text


def message_problems(message: Message, wanted: Message | None = None) -> list[str]:
    """Why a catalog's entry is not usable: untranslated, fuzzy, or a placeholder lost."""
    name = f"{message.context or ''} {_forms(message.id)[0][:40]!r}".strip()
    if message.fuzzy:
        return [f"{name} is fuzzy (the English changed: check and confirm the translation)"]
    forms = _forms(message.string)
    if not all(forms):
        return [f"{name} is not translated"]
    needed = set(PLACEHOLDER.findall(" ".join(_forms((wanted or message).id))))
    lost = sorted({p for form in forms for p in needed if not _has_placeholder(form, p)})
    return [f"{name} lacks %({p})s" for p in lost]


def catalog_problems(root: Path, locale: str, template: Catalog | None = None) -> list[str]:
    """What keeps a locale's catalog from matching the templates, empty when it is whole."""
    path = catalog_path(root, locale)
    if not path.exists():
        return [f"no catalog {path.relative_to(root.parent)}"]
    try:
        catalog = read_catalog(path, locale)
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported as such
        return [f"{path.relative_to(root.parent)} does not parse: {exc}"]
    template = template if template is not None else extract_messages(root)
    problems: list[str] = []
    for wanted in template:
        if not wanted.id:
            continue
        entry = catalog.get(wanted.id, context=wanted.context)
        if entry is None:
            problems.append(f"{wanted.context or ''} {_forms(wanted.id)[0][:40]!r} is missing")
        else:
            problems.extend(message_problems(entry, wanted))
    stale = [m for m in catalog if m.id and template.get(m.id, context=m.context) is None]
    problems.extend(
        f"{m.context or ''} {_forms(m.id)[0][:40]!r} is no longer in the templates" for m in stale
    )
    return problems


def available_locales(root: Path = PROMPTS_DIR) -> tuple[str, ...]:
    """Locales with a catalog or a folder of their own, default first."""
    found = {p.name for p in root.iterdir() if p.is_dir() and len(p.name) == 2 and p.name.isalpha()}
    catalogs = root / LOCALES
    if catalogs.is_dir():
        found.update(p.name for p in catalogs.iterdir() if p.is_dir())
    found.add(DEFAULT_LOCALE)
    return tuple(sorted(found, key=lambda loc: (loc != DEFAULT_LOCALE, loc)))


def pick_locale(language_code: str | None, locales: Iterable[str] | None = None) -> str:
    """The supported locale closest to a Telegram language code ("es-MX" → "es")."""
    supported = tuple(locales) if locales is not None else available_locales()
    if language_code:
        base = language_code.replace("_", "-").split("-")[0].lower()
        if base in supported:
            return base
    return DEFAULT_LOCALE


class Formats:
    """Dates, times, weekdays and numbers in one locale's conventions (Babel, CLDR data)."""

    def __init__(self, locale: str) -> None:
        self.locale = Locale.parse(locale)
        # Matching a skeleton to the locale's pattern is the slow part: once per skeleton.
        self._patterns: dict[str, str] = {}

    def _pattern(self, skeleton: str, full_weekday: bool = False) -> str:
        key = skeleton + ("+EEEE" if full_weekday else "")
        pattern = self._patterns.get(key)
        if pattern is None:
            skeletons = self.locale.datetime_skeletons
            match = babel_dates.match_skeleton(skeleton, skeletons) or skeleton
            pattern = str(skeletons[match]) if match in skeletons else skeleton
            if full_weekday:
                # CLDR's pattern keeps its own width; the skeleton MMMMEEEEd asks for the
                # weekday's full name (Babel matches the pattern but not the widths).
                pattern = re.sub(r"(?<!E)E{1,3}(?!E)", "EEEE", pattern)
            self._patterns[key] = pattern
        return pattern

    def _format(self, value: dt.date, skeleton: str, full_weekday: bool = False) -> str:
        pattern = self._pattern(skeleton, full_weekday)
        return babel_dates.format_datetime(value, pattern, locale=self.locale)

    def date(self, value: dt.date) -> str:
        """A date on its own: "Mar 2, 2026", "2 mar 2026", "02.03.2026"."""
        return babel_dates.format_date(value, "medium", locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        """A moment with weekday and 24-hour time (as the commands take it), in its own zone."""
        day = self._format(value, "yMMMEd")
        time = self._format(value, "Hm")
        pattern = babel_dates.get_datetime_format("medium", locale=self.locale)
        return str(pattern).replace("{1}", day).replace("{0}", time)

    def short_date(self, value: dt.date) -> str:
        """Day and month only, for lists within a year: "Nov 24", "24 nov", "24. Nov."."""
        return self._format(value, "MMMd")

    def day(self, value: dt.date) -> str:
        """A day within the year with its weekday: "Tuesday, March 3", "martes, 3 de marzo"."""
        return self._format(value, "MMMMEd", full_weekday=True)

    def month(self, value: dt.date) -> str:
        """The month's name on its own: "November", "noviembre", "November"."""
        names = babel_dates.get_month_names("wide", context="stand-alone", locale=self.locale)
        return str(names[value.month])

    def month_year(self, value: dt.date) -> str:
        """A month with its year: "November 2026", "noviembre de 2026"."""
        return self._format(value, "yMMMM")

    def weekday(self, number: int) -> str:
        """Monday is 0, as ``datetime.weekday()`` counts."""
        return str(babel_dates.get_day_names("wide", locale=self.locale)[int(number)])

    def number(self, value: float | None, decimals: int = 1) -> str:
        """A score with at most ``decimals`` decimals: 4.5, 4,5; 4.0 is "4"."""
        if value is None:
            return ""
        return babel_numbers.format_decimal(
            round(float(value), decimals), "0." + "#" * decimals, locale=self.locale
        )

    def calendar(self, block: str, value: Any) -> str:
        """The answer to an old ``calendar.<block>`` key."""
        if block.startswith("weekday_"):
            return self.weekday(int(block.removeprefix("weekday_")))
        formats: dict[str, Callable[[Any], str]] = {
            "date": self.date,
            "short_date": self.short_date,
            "month_year": self.month_year,
            "datetime": self.datetime,
            "day": self.day,
        }
        if block not in formats:
            raise KeyError(f"no text '{CALENDAR}.{block}'")
        return formats[block](value)

    def globals(self) -> dict[str, Callable[..., str]]:
        """The formatters as template functions."""
        return {
            "format_date": self.date,
            "format_short_date": self.short_date,
            "format_datetime": self.datetime,
            "format_day": self.day,
            "weekday_name": self.weekday,
            "month_name": self.month,
            "format_month_year": self.month_year,
            "format_number": self.number,
        }


class Texts:
    """Renders templates by key and locale."""

    def __init__(self, root: Path = PROMPTS_DIR) -> None:
        self.root = root
        self.locales = available_locales(root)
        # The older form: one template per locale, prompts/<locale>/<area>.j2.
        self.env = _environment(jinja2.FileSystemLoader(str(root)), i18n=False)
        self._envs: dict[str, jinja2.Environment] = {}
        self._formats: dict[str, Formats] = {}
        self._template_areas: frozenset[str] | None = None
        self._templates: dict[tuple[str, str], jinja2.Template] = {}
        self._labels: dict[tuple[str, str, tuple[tuple[str, object], ...]], str] = {}

    # -- the two forms ---------------------------------------------------------------

    def template_areas(self) -> frozenset[str]:
        """Areas written once, with their wording in the catalogs (looked up once)."""
        if self._template_areas is None:
            folder = self.root / TEMPLATES
            found = {p.stem for p in folder.glob("*.j2")} if folder.is_dir() else set()
            self._template_areas = frozenset(found)
        return self._template_areas

    def legacy_areas(self, locale: str) -> set[str]:
        """Areas a locale still has as a template of its own."""
        folder = self.root / locale
        own = {p.stem for p in folder.glob("*.j2")} if folder.is_dir() else set()
        return own - self.template_areas()

    def translations(self, locale: str) -> NullTranslations:
        """A locale's compiled catalog; English (the source language) needs none."""
        path = catalog_path(self.root, locale)
        if locale == DEFAULT_LOCALE or not path.exists():
            return NullTranslations()
        return compile_catalog(read_catalog(path, locale))

    def formats(self, locale: str) -> Formats:
        """Babel's formatting for a locale."""
        loc = locale if locale in self.locales else DEFAULT_LOCALE
        if loc not in self._formats:
            try:
                self._formats[loc] = Formats(loc)
            except UnknownLocaleError:  # a language CLDR does not know: English conventions
                self._formats[loc] = Formats(DEFAULT_LOCALE)
        return self._formats[loc]

    def i18n_env(self, locale: str) -> jinja2.Environment:
        """The environment of one-template areas, speaking one locale."""
        loc = locale if locale in self.locales else DEFAULT_LOCALE
        env = self._envs.get(loc)
        if env is None:
            env = _environment(jinja2.FileSystemLoader(str(self.root / TEMPLATES)), i18n=True)
            env.install_gettext_translations(self.translations(loc), newstyle=True)  # type: ignore[attr-defined]
            env.globals.update(self.formats(loc).globals())
            self._envs[loc] = env
        return env

    def _template(self, locale: str, area: str) -> jinja2.Template:
        # Templates do not change while the bot runs: found once, without a stat per render.
        cached = self._templates.get((locale, area))
        if cached is not None:
            return cached
        if area in self.template_areas():
            template = self.i18n_env(locale).get_template(f"{area}.j2")
        else:
            loc = locale if locale in self.locales else DEFAULT_LOCALE
            try:
                template = self.env.get_template(f"{loc}/{area}.j2")
            except jinja2.TemplateNotFound:
                template = self.env.get_template(f"{DEFAULT_LOCALE}/{area}.j2")
        self._templates[(locale, area)] = template
        return template

    # -- rendering -------------------------------------------------------------------

    def render(self, locale: str, key: str, **context: Any) -> str:
        """Render ``area.block`` (or a whole ``area``) as HTML-safe text."""
        area, _, block = key.partition(".")
        if area == CALENDAR:
            return str(escape(self.formats(locale).calendar(block, context.get("value"))))
        template = self._template(locale, area)
        # Templates may pull in another text of the same locale: {{ text("client.notice") }}.
        # That text is already HTML (escaped where it must be), so it is marked safe: handing
        # it over unescaped made autoescape escape it a second time, and "<b>" showed literally.
        context.setdefault("text", lambda other, **kw: self.markup(locale, other, **kw))
        if not block:
            return template.render(**context).strip()
        if block not in template.blocks:
            template = self._template(DEFAULT_LOCALE, area)
            if block not in template.blocks:
                raise KeyError(f"no text '{key}'")
        ctx = template.new_context(dict(context))
        return "".join(template.blocks[block](ctx)).strip()

    def markup(self, locale: str, key: str, **context: Any) -> Markup:
        """A rendered text as HTML that another template includes as it is."""
        return Markup(self.render(locale, key, **context))  # noqa: S704 - render() escapes

    def plain(self, locale: str, key: str, **context: Any) -> str:
        """Render for places that are not HTML (button labels, chart titles, documents)."""
        return html.unescape(self.render(locale, key, **context))

    def label(self, locale: str, key: str, **context: str | int | None) -> str:
        """``plain`` for a text made of fixed data only (a button's label, a tap's notice):
        rendered once per locale and values, then reused.

        Templates do not change while the bot runs, so the same key and values always
        give the same text; a check-in tap shows several such texts, and rendering them
        anew for every tap was most of its template work. Never for what a person wrote
        or is called: those are not kept.
        """
        cache_key = (locale, key, tuple(sorted(context.items())))
        found = self._labels.get(cache_key)
        if found is None:
            if len(self._labels) >= _MAX_LABELS:
                self._labels.clear()
            found = self._labels[cache_key] = self.plain(locale, key, **context)
        return found

    # -- Babel's formats, for Python callers ----------------------------------------

    def date(self, locale: str, value: dt.date) -> str:
        """A date in the locale's medium form."""
        return self.formats(locale).date(value)

    def datetime(self, locale: str, value: dt.datetime) -> str:
        """A moment with weekday and time, in the value's own time zone."""
        return self.formats(locale).datetime(value)

    def short_date(self, locale: str, value: dt.date) -> str:
        """Day and month only, for lists within a year."""
        return self.formats(locale).short_date(value)

    def number(self, locale: str, value: float | None, decimals: int = 1) -> str:
        """A number with at most ``decimals`` decimals, in the locale's notation."""
        return self.formats(locale).number(value, decimals)

    # -- what there is ---------------------------------------------------------------

    def keys(self, locale: str) -> set[str]:
        """Every ``area.block`` key a locale defines (for completeness checks)."""
        result: set[str] = set()
        for area in sorted(self.template_areas()):
            template = self.i18n_env(DEFAULT_LOCALE).get_template(f"{area}.j2")
            result.update(f"{area}.{block}" for block in template.blocks)
        for area in sorted(self.legacy_areas(locale)):
            template = self.env.get_template(f"{locale}/{area}.j2")
            if template.blocks:
                result.update(f"{area}.{block}" for block in template.blocks)
            else:
                result.add(area)
        return result


@lru_cache(maxsize=1)
def default_texts() -> Texts:
    """The shared renderer over the installed prompts folder."""
    return Texts()
