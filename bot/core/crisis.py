"""Crisis resources as data: load ``prompts/<locale>/crisis.toml`` and check its review date.

When risk language is detected the bot replies at once with crisis resources for the
client's locale. Numbers, hours and regions live in TOML next to the templates so a
clinician can check and update them without touching code; each file carries the date
it was last reviewed and when it is due again, because out-of-date numbers in a crisis
are worse than none. Unknown locales fall back to English, which lists international
services and the Find A Helpline directory. Each resource may name the countries it
serves: :func:`for_country` puts the client's own country first (their time zone's
country, see :func:`country_of_timezone`) and leaves the rest to be folded away. No
network access, no I/O beyond reading these files and the tz database's zone table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final, Literal

import prompts

ResourceKind = Literal["emergency", "helpline", "directory"]
RESOURCE_KINDS: Final[tuple[str, ...]] = ("emergency", "helpline", "directory")
FALLBACK_LOCALE: Final = "en"
PROMPTS_DIR: Final = Path(prompts.__file__).parent
CRISIS_FILE: Final = "crisis.toml"

_TOP_KEYS: Final = frozenset({"locale", "reviewed", "next_review", "resources"})
_RESOURCE_KEYS: Final = frozenset(
    {"name", "kind", "region", "countries", "hours", "phone", "sms", "sms_keyword", "web", "notes"}
)
_COUNTRY_RE: Final = re.compile(r"[A-Z]{2}")
_LOCALE_RE: Final = re.compile(r"[a-z]{2,3}")
_PHONE_RE: Final = re.compile(r"\+?[0-9][0-9 ()*#-]*")


class CrisisDataError(ValueError):
    """A malformed crisis resources file; the message names the file and the field."""


@dataclass(frozen=True)
class CrisisResource:
    """One service: how to reach it (phone, text message, web) and when."""

    name: str
    kind: ResourceKind
    region: str
    hours: str
    phone: str | None = None
    sms: str | None = None
    sms_keyword: str | None = None
    web: str | None = None
    notes: str | None = None
    # ISO 3166 codes of the countries where it works (empty: anywhere, e.g. a directory).
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CrisisResources:
    """The resources for one locale, with their review dates."""

    locale: str
    requested_locale: str
    reviewed: date
    next_review: date
    resources: tuple[CrisisResource, ...]

    @property
    def is_fallback(self) -> bool:
        """True when the requested locale had no file and English was used instead."""
        return self.locale != self.requested_locale


def _fail(origin: str, where: str, problem: str) -> CrisisDataError:
    """Build the error every validation failure raises."""
    return CrisisDataError(f"{origin}: {where}: {problem}")


def _text(entry: dict[str, Any], key: str, origin: str, where: str, required: bool) -> str | None:
    """A non-empty string field (or None when optional and absent)."""
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(origin, f"{where}.{key}", "expected a non-empty string")
    return value.strip()


def _date(data: dict[str, Any], key: str, origin: str) -> date:
    """An ISO date, written as a TOML date or a "YYYY-MM-DD" string."""
    value = data.get(key)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(origin, key, f'expected a date like "2026-11-22", got {value!r}')


def _resource(raw: object, origin: str, where: str) -> CrisisResource:
    """Validate one [[resources]] entry."""
    if not isinstance(raw, dict):
        raise _fail(origin, where, "expected a table")
    unknown = sorted(set(raw) - _RESOURCE_KEYS)
    if unknown:
        raise _fail(origin, where, f"unknown key(s) {unknown}; allowed: {sorted(_RESOURCE_KEYS)}")
    kind = raw.get("kind")
    if kind not in RESOURCE_KINDS:
        raise _fail(origin, f"{where}.kind", f"expected one of {RESOURCE_KINDS}, got {kind!r}")
    name = _text(raw, "name", origin, where, True)
    region = _text(raw, "region", origin, where, True)
    hours = _text(raw, "hours", origin, where, True)
    assert name is not None and region is not None and hours is not None
    phone = _text(raw, "phone", origin, where, False)
    sms = _text(raw, "sms", origin, where, False)
    keyword = _text(raw, "sms_keyword", origin, where, False)
    web = _text(raw, "web", origin, where, False)
    for key, number in (("phone", phone), ("sms", sms)):
        if number is not None and not _PHONE_RE.fullmatch(number):
            raise _fail(origin, f"{where}.{key}", f"{number!r} does not look like a number")
    if keyword is not None and sms is None:
        raise _fail(origin, f"{where}.sms_keyword", "a keyword needs an sms number")
    if web is not None and not web.startswith("https://"):
        raise _fail(origin, f"{where}.web", "links must start with https://")
    if phone is None and sms is None and web is None:
        raise _fail(origin, where, "a resource needs at least one of phone, sms or web")
    countries = raw.get("countries", [])
    if not isinstance(countries, list) or not all(
        isinstance(c, str) and _COUNTRY_RE.fullmatch(c) for c in countries
    ):
        raise _fail(origin, f"{where}.countries", 'expected ISO country codes like ["ES", "MX"]')
    return CrisisResource(
        name=name,
        kind=kind,
        region=region,
        hours=hours,
        phone=phone,
        sms=sms,
        sms_keyword=keyword,
        web=web,
        notes=_text(raw, "notes", origin, where, False),
        countries=frozenset(countries),
    )


def parse_crisis_resources(path: Path, requested_locale: str) -> CrisisResources:
    """Read and validate one crisis.toml; raise CrisisDataError with a clear message."""
    origin = f"{path.parent.name}/{path.name}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CrisisDataError(f"{origin}: cannot read crisis resources: {exc}") from exc
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(origin, "top level", f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    locale = data.get("locale")
    if locale != path.parent.name:
        raise _fail(origin, "locale", f"must equal its folder name {path.parent.name!r}")
    reviewed = _date(data, "reviewed", origin)
    next_review = _date(data, "next_review", origin)
    if next_review <= reviewed:
        raise _fail(origin, "next_review", "must be after the review date")
    raw_resources = data.get("resources")
    if not isinstance(raw_resources, list) or not raw_resources:
        raise _fail(origin, "resources", "expected at least one [[resources]] entry")
    resources = tuple(
        _resource(raw, origin, f"resources[{i}]") for i, raw in enumerate(raw_resources)
    )
    if not any(r.kind == "emergency" for r in resources):
        raise _fail(origin, "resources", "list at least one emergency number")
    return CrisisResources(
        locale=locale,
        requested_locale=requested_locale,
        reviewed=reviewed,
        next_review=next_review,
        resources=resources,
    )


def _primary_language(locale: str) -> str:
    """Primary subtag: "es-MX", "es_ES" and "ES" give "es"; anything else ("../x") gives ""."""
    primary = re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]
    return primary if _LOCALE_RE.fullmatch(primary) else ""


@lru_cache(maxsize=32)
def _load_cached(primary: str, base_dir: Path) -> CrisisResources:
    """Load the file for a primary language, or the English one when there is none."""
    path = base_dir / (primary or FALLBACK_LOCALE) / CRISIS_FILE
    if not path.is_file():
        path = base_dir / FALLBACK_LOCALE / CRISIS_FILE
    return parse_crisis_resources(path, primary)


def load_crisis_resources(locale: str, *, base_dir: Path = PROMPTS_DIR) -> CrisisResources:
    """Crisis resources for a locale such as "es" or "de-AT", falling back to "en"."""
    return _load_cached(_primary_language(locale), base_dir)


def is_review_overdue(resources: CrisisResources, today: date) -> bool:
    """True once the next review date has passed (on the day itself it is still due, not late)."""
    return today > resources.next_review


@dataclass(frozen=True)
class RegionalResources:
    """Crisis resources for one place: that place's first, the rest folded away."""

    country: str | None
    local: tuple[CrisisResource, ...]
    elsewhere: tuple[CrisisResource, ...]
    directories: tuple[CrisisResource, ...]


def _key(resource: CrisisResource) -> tuple[str | None, ...]:
    """The same service listed in two languages' files has the same number or link."""
    return (resource.phone, resource.sms, resource.web)


def for_country(
    resources: CrisisResources, country: str | None, others: Sequence[CrisisResources] = ()
) -> RegionalResources:
    """Order a locale's resources for a client in ``country``.

    The services of that country come first — from the client's own language's file
    and, when it has none there, from the other languages' files (an English-speaking
    client in Madrid gets Spain's numbers) — and everything else is listed after them
    (the template folds it). Without a country, or with no emergency number known for
    it, nothing is put first and every resource keeps its place.
    """
    directories = tuple(r for r in resources.resources if r.kind == "directory")
    services = [r for r in resources.resources if r.kind != "directory"]
    if country is None:
        return RegionalResources(None, (), tuple(services), directories)
    local = [r for r in services if country in r.countries]
    seen = {_key(r) for r in local}
    for other in others:
        for resource in other.resources:
            if resource.kind == "directory" or country not in resource.countries:
                continue
            if _key(resource) not in seen:
                seen.add(_key(resource))
                local.append(resource)
    if not any(r.kind == "emergency" for r in local):
        return RegionalResources(None, (), tuple(services), directories)
    local.sort(key=lambda r: RESOURCE_KINDS.index(r.kind))
    elsewhere = tuple(r for r in services if _key(r) not in seen)
    return RegionalResources(country, tuple(local), elsewhere, directories)


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO country code, from the tz database's zone.tab (one country a zone)."""
    try:
        text = (files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    table: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            table[fields[2]] = fields[0]
    return table


def country_of_timezone(zone: str | None) -> str | None:
    """The country a time zone belongs to ("Europe/Madrid" → "ES"), or None ("UTC")."""
    if not zone:
        return None
    return _zone_countries().get(zone)
