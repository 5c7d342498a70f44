"""The one place that turns template names into user-facing text.

Every text lives in ``prompts/<locale>/<area>.j2``. A file holds named blocks
(``{% block welcome %}…{% endblock %}``), addressed as ``"area.block"``; a key
without a dot renders the whole file. Templates are autoescaped because messages
go out in Telegram's HTML parse mode, so client- and therapist-given text (aliases,
names, comments) can never inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

import prompts

PROMPTS_DIR = Path(prompts.__file__).parent
DEFAULT_LOCALE = "en"


def available_locales(root: Path = PROMPTS_DIR) -> tuple[str, ...]:
    """Locales that have a folder of templates, default first."""
    found = sorted(
        p.name for p in root.iterdir() if p.is_dir() and len(p.name) == 2 and p.name.isalpha()
    )
    return tuple(sorted(found, key=lambda loc: (loc != DEFAULT_LOCALE, loc)))


def pick_locale(language_code: str | None, locales: Iterable[str] | None = None) -> str:
    """The supported locale closest to a Telegram language code ("es-MX" → "es")."""
    supported = tuple(locales) if locales is not None else available_locales()
    if language_code:
        base = language_code.replace("_", "-").split("-")[0].lower()
        if base in supported:
            return base
    return DEFAULT_LOCALE


class Texts:
    """Renders templates by key and locale."""

    def __init__(self, root: Path = PROMPTS_DIR) -> None:
        self.root = root
        self.locales = available_locales(root)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(root)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
        )

    def _template(self, locale: str, area: str) -> jinja2.Template:
        loc = locale if locale in self.locales else DEFAULT_LOCALE
        try:
            return self.env.get_template(f"{loc}/{area}.j2")
        except jinja2.TemplateNotFound:
            return self.env.get_template(f"{DEFAULT_LOCALE}/{area}.j2")

    def render(self, locale: str, key: str, **context: Any) -> str:
        """Render ``area.block`` (or a whole ``area``) as HTML-safe text."""
        area, _, block = key.partition(".")
        template = self._template(locale, area)
        # Templates may pull in another text of the same locale: {{ text("calendar.weekday_0") }}.
        # That text is already HTML (escaped where it must be), so it is marked safe: handing
        # it over unescaped made autoescape escape it a second time, and "<b>" showed literally.
        context.setdefault("text", lambda other, **kw: self.markup(locale, other, **kw))
        if not block:
            return template.render(**context).strip()
        if block not in template.blocks:
            template = self.env.get_template(f"{DEFAULT_LOCALE}/{area}.j2")
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

    def keys(self, locale: str) -> set[str]:
        """Every ``area.block`` key a locale defines (for completeness checks)."""
        result: set[str] = set()
        folder = self.root / locale
        for path in sorted(folder.glob("*.j2")):
            template = self.env.get_template(f"{locale}/{path.name}")
            area = path.stem
            if template.blocks:
                result.update(f"{area}.{block}" for block in template.blocks)
            else:
                result.add(area)
        return result


@lru_cache(maxsize=1)
def default_texts() -> Texts:
    """The shared renderer over the installed prompts folder."""
    return Texts()
