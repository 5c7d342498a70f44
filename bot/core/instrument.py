"""Questionnaires as data: load, validate and walk an instrument defined in a TOML file.

An instrument lists items (id, domain, kind, per-locale text, scale or options,
reverse scoring, how often asked, an optional condition). The default check-in is
``prompts/instruments/alliance-default.toml``; a practice adds a licensed instrument
by dropping another file next to it (see docs/instruments.md). Nothing here talks
to Telegram or the database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import prompts

ItemKind = Literal["scale", "choice", "text"]
ITEM_KINDS: tuple[str, ...] = ("scale", "choice", "text")
INSTRUMENTS_DIR = Path(prompts.__file__).parent / "instruments"
DEFAULT_INSTRUMENT_ID = "alliance-default"


class InstrumentError(ValueError):
    """A malformed instrument definition; the message names the file and the field."""


@dataclass(frozen=True)
class Option:
    """One answer a client can choose: the stored value and its label per locale."""

    value: int
    code: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class Condition:
    """Ask an item only when an earlier item was answered with one of these values."""

    item: str
    values: frozenset[int]


@dataclass(frozen=True)
class Item:
    """One question of an instrument."""

    id: str
    domain: str
    kind: ItemKind
    text: Mapping[str, str]
    options: tuple[Option, ...] = ()
    reverse: bool = False
    core: bool = False
    every: int = 1
    # Asked only in check-ins created with it (``items_for(..., occasional=True)``): the
    # conversation loop's item, after a suggested conversation and rarely otherwise.
    occasional: bool = False
    ask_if: Condition | None = None
    optional: bool = False
    scale_min: int | None = None
    scale_max: int | None = None

    @property
    def is_numeric_scale(self) -> bool:
        """True for agreement-style scales whose buttons begin with their number."""
        return self.kind == "scale"

    def score(self, value: int) -> float:
        """The value in the scale's direction where higher means a better alliance."""
        if self.kind == "scale" and self.reverse:
            assert self.scale_min is not None and self.scale_max is not None
            return float(self.scale_max + self.scale_min - value)
        return float(value)

    def option(self, value: int) -> Option | None:
        """The option with this value, or None when the value is not allowed."""
        for option in self.options:
            if option.value == value:
                return option
        return None


@dataclass(frozen=True)
class Instrument:
    """A validated questionnaire."""

    id: str
    version: int
    name: Mapping[str, str]
    locales: tuple[str, ...]
    items: tuple[Item, ...]
    licence: str = ""
    source: str = ""
    description: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def _by_id(self) -> dict[str, Item]:
        # Looked up for every answer of every check-in a digest scores.
        return {item.id: item for item in self.items}

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError if absent)."""
        return self._by_id[item_id]

    def has_item(self, item_id: str) -> bool:
        """Whether the instrument defines this item."""
        return item_id in self._by_id

    def items_for(self, sequence_number: int, *, occasional: bool = False) -> tuple[Item, ...]:
        """Items of a client's n-th check-in (1-based); an item with every=N comes every N-th.

        Occasional items come only when asked for (``occasional=True``).
        """
        n = max(sequence_number, 1)
        return tuple(
            item
            for item in self.items
            if (item.every <= 1 or n % item.every == 0) and (occasional or not item.occasional)
        )

    def next_item(self, included: Sequence[str], answered: Mapping[str, int | None]) -> Item | None:
        """The next item to ask: the first included, unanswered item whose condition holds."""
        for item_id in included:
            if item_id in answered or not self.has_item(item_id):
                continue
            item = self.item(item_id)
            if item.ask_if is not None:
                given = answered.get(item.ask_if.item)
                if given is None or given not in item.ask_if.values:
                    continue
            return item
        return None

    def applicable(self, included: Sequence[str], answered: Mapping[str, int | None]) -> list[Item]:
        """Included items whose condition holds given the answers so far."""
        result = []
        for item_id in included:
            if not self.has_item(item_id):
                continue
            item = self.item(item_id)
            if item.ask_if is not None:
                given = answered.get(item.ask_if.item)
                if given is None or given not in item.ask_if.values:
                    continue
            result.append(item)
        return result

    def progress(self, included: Sequence[str], item: Item) -> tuple[int, int]:
        """Where an item stands among a check-in's questions, as "position/total" counts them.

        A follow-up asked only after some answers (``ask_if``) shares the number of the
        question it follows, so the total is known from the first question and never grows.
        """
        main = [i for i in included if self.has_item(i) and self.item(i).ask_if is None]
        anchor = item
        while anchor.ask_if is not None and self.has_item(anchor.ask_if.item):
            anchor = self.item(anchor.ask_if.item)
        position = main.index(anchor.id) + 1 if anchor.id in main else len(main)
        return position, len(main)

    def localised(self, texts: Mapping[str, str], locale: str) -> str:
        """The text in this locale, else in the instrument's first locale."""
        return texts.get(locale) or texts[self.locales[0]]


def _require(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise InstrumentError(f"{where}: missing '{key}'")
    value = data[key]
    if kind is int and isinstance(value, bool):
        raise InstrumentError(f"{where}: '{key}' must be an integer")
    if not isinstance(value, kind):
        raise InstrumentError(f"{where}: '{key}' must be {kind.__name__}")
    return value


def _texts(data: Any, locales: Sequence[str], where: str) -> dict[str, str]:
    if not isinstance(data, Mapping):
        raise InstrumentError(f"{where}: expected a table of texts per locale")
    result: dict[str, str] = {}
    for locale in locales:
        text = data.get(locale)
        if not isinstance(text, str) or not text.strip():
            raise InstrumentError(f"{where}: missing text for locale '{locale}'")
        result[locale] = text
    return result


def _scale_options(
    scales: Mapping[str, Any], name: str, locales: Sequence[str], where: str
) -> tuple[tuple[Option, ...], int, int]:
    if name not in scales:
        raise InstrumentError(f"{where}: unknown scale '{name}'")
    scale = scales[name]
    swhere = f"scale '{name}'"
    low = _require(scale, "min", int, swhere)
    high = _require(scale, "max", int, swhere)
    if high <= low or high - low > 10:
        raise InstrumentError(f"{swhere}: needs min < max and at most 11 points")
    labels = scale.get("labels", {})
    options = []
    for index, value in enumerate(range(low, high + 1)):
        label: dict[str, str] = {}
        for locale in locales:
            per_locale = labels.get(locale)
            if not isinstance(per_locale, list) or len(per_locale) != high - low + 1:
                raise InstrumentError(
                    f"{swhere}: 'labels.{locale}' must list {high - low + 1} labels "
                    '(use "" for an unlabelled point)'
                )
            label[locale] = str(per_locale[index])
        options.append(Option(value=value, code=str(value), label=label))
    return tuple(options), low, high


def _choice_options(data: Any, locales: Sequence[str], where: str) -> tuple[Option, ...]:
    if not isinstance(data, list) or len(data) < 2:
        raise InstrumentError(f"{where}: a choice item needs at least two options")
    options = []
    seen: set[int] = set()
    for index, raw in enumerate(data, start=1):
        owhere = f"{where} option {index}"
        value = _require(raw, "value", int, owhere)
        if value in seen:
            raise InstrumentError(f"{owhere}: duplicate value {value}")
        seen.add(value)
        code = _require(raw, "code", str, owhere)
        options.append(
            Option(value=value, code=code, label=_texts(raw.get("label"), locales, owhere))
        )
    return tuple(options)


def parse_instrument(data: Mapping[str, Any], source: str = "<memory>") -> Instrument:
    """Validate a decoded TOML document and build the instrument, or raise InstrumentError."""
    where = source
    instrument_id = _require(data, "id", str, where)
    version = _require(data, "version", int, where)
    locales = _require(data, "locales", list, where)
    if not locales or not all(isinstance(loc, str) and loc for loc in locales):
        raise InstrumentError(f"{where}: 'locales' must list at least one locale code")
    name = _texts(data.get("name"), locales, f"{where}: name")
    scales = data.get("scales", {})
    raw_items = _require(data, "items", list, where)
    if not raw_items:
        raise InstrumentError(f"{where}: no items")
    items: list[Item] = []
    ids: set[str] = set()
    for index, raw in enumerate(raw_items, start=1):
        iwhere = f"{where}: item {index}"
        if not isinstance(raw, Mapping):
            raise InstrumentError(f"{iwhere}: expected a table")
        item_id = _require(raw, "id", str, iwhere)
        iwhere = f"{where}: item '{item_id}'"
        if item_id in ids:
            raise InstrumentError(f"{iwhere}: duplicate id")
        if not item_id.replace("_", "").isalnum() or len(item_id) > 24:
            raise InstrumentError(f"{iwhere}: ids are short words of letters, digits and _")
        ids.add(item_id)
        kind = _require(raw, "kind", str, iwhere)
        if kind not in ITEM_KINDS:
            raise InstrumentError(f"{iwhere}: kind must be one of {', '.join(ITEM_KINDS)}")
        domain = _require(raw, "domain", str, iwhere)
        occasional = raw.get("occasional", False)
        if not isinstance(occasional, bool):
            raise InstrumentError(f"{iwhere}: 'occasional' must be true or false")
        every = raw.get("every", 1)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise InstrumentError(f"{iwhere}: 'every' must be a whole number ≥ 1")
        options: tuple[Option, ...] = ()
        low = high = None
        if kind == "scale":
            options, low, high = _scale_options(
                scales, _require(raw, "scale", str, iwhere), locales, iwhere
            )
        elif kind == "choice":
            options = _choice_options(raw.get("options"), locales, iwhere)
        ask_if = None
        if "ask_if" in raw:
            cond = raw["ask_if"]
            target = _require(cond, "item", str, f"{iwhere} ask_if")
            values = _require(cond, "values", list, f"{iwhere} ask_if")
            if target not in ids or target == item_id:
                raise InstrumentError(f"{iwhere}: ask_if must name an earlier item")
            ask_if = Condition(item=target, values=frozenset(int(v) for v in values))
        items.append(
            Item(
                id=item_id,
                domain=domain,
                kind=kind,
                text=_texts(raw.get("text"), locales, f"{iwhere}: text"),
                options=options,
                reverse=bool(raw.get("reverse", False)),
                core=bool(raw.get("core", False)),
                every=every,
                occasional=occasional,
                ask_if=ask_if,
                optional=bool(raw.get("optional", kind == "text")),
                scale_min=low,
                scale_max=high,
            )
        )
    description = data.get("description", {})
    return Instrument(
        id=instrument_id,
        version=version,
        name=name,
        locales=tuple(locales),
        items=tuple(items),
        licence=str(data.get("licence", "")),
        source=source,
        description=dict(description) if isinstance(description, Mapping) else {},
    )


def load_instrument(path: Path) -> Instrument:
    """Read and validate an instrument file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InstrumentError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InstrumentError(f"{path}: not valid TOML ({exc})") from exc
    return parse_instrument(data, source=str(path))


_cache: dict[str, Instrument] = {}


def get_instrument(instrument_id: str = DEFAULT_INSTRUMENT_ID) -> Instrument:
    """The instrument stored as prompts/instruments/<id>.toml, loaded once."""
    if instrument_id not in _cache:
        if not instrument_id.replace("-", "").replace("_", "").isalnum():
            raise InstrumentError(f"'{instrument_id}' is not an instrument id")
        _cache[instrument_id] = load_instrument(INSTRUMENTS_DIR / f"{instrument_id}.toml")
    return _cache[instrument_id]
