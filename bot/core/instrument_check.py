"""Checking an instrument file before a practice uses it: `alliance-checkin instrument check PATH`.

``parse_instrument`` already rejects malformed files; this adds what the strain
rules and the digest need (a core item on a scale, a tension item coded the way
the rules read it) and notes what is allowed but worth knowing (domains the rules
do not know, placeholder wording, an empty licence field).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.core.instrument import Instrument, InstrumentError, load_instrument
from bot.core.scoring import REPAIR_DOMAIN, TENSION_DOMAIN

# Domains with openers and wording in the digest (prompts/templates/conversation.j2).
KNOWN_DOMAINS = frozenset(
    {
        "bond",
        "goals",
        "tasks",
        "openness",
        "support",
        TENSION_DOMAIN,
        REPAIR_DOMAIN,
        "comment",
        "conversation",  # the loop's client item (bot.core.conversation_loop)
    }
)
PLACEHOLDER_MARK = "PLACEHOLDER"

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One observation about an instrument file."""

    level: Level
    message: str

    def __str__(self) -> str:
        """The finding as one line for the command line."""
        return f"{self.level}: {self.message}"


def _core_findings(instrument: Instrument) -> list[Finding]:
    """The strain rules average core scale items: there must be some, and only scales."""
    findings = []
    core = [item for item in instrument.items if item.core]
    if not core:
        findings.append(
            Finding("error", "no item has core = true; the strain rules need at least one")
        )
    for item in core:
        if item.kind != "scale":
            findings.append(
                Finding("error", f"item '{item.id}': core items must be scales, not {item.kind}")
            )
        elif item.every > 1:
            findings.append(
                Finding(
                    "warning",
                    f"item '{item.id}': a core item asked only every {item.every}th time "
                    "gives the client's baseline few points",
                )
            )
    ranges = {(item.scale_min, item.scale_max) for item in core if item.kind == "scale"}
    if len(ranges) > 1:
        findings.append(
            Finding(
                "warning",
                "core items use different scales; the overall mean mixes them and the "
                "digest shows the largest maximum",
            )
        )
    return findings


def _tension_findings(instrument: Instrument) -> list[Finding]:
    """The tension and repair items must be coded as the rules read them."""
    findings = []
    tension = [item for item in instrument.items if item.domain == TENSION_DOMAIN]
    repair = [item for item in instrument.items if item.domain == REPAIR_DOMAIN]
    for item in tension + repair:
        if item.kind != "choice":
            findings.append(
                Finding("error", f"item '{item.id}': a {item.domain} item must be a choice")
            )
        elif item.option(0) is None:
            meaning = "no tension" if item.domain == TENSION_DOMAIN else "not talked through"
            findings.append(
                Finding("error", f"item '{item.id}': needs an option with value 0 ({meaning})")
            )
    if not tension:
        findings.append(
            Finding("info", "no tension item: the unresolved-tension rule will not apply")
        )
    elif not repair:
        findings.append(
            Finding("info", "no repair item: tension can be noticed but never counted as repaired")
        )
    else:
        follow_up = repair[0].ask_if
        if follow_up is None or follow_up.item != tension[0].id:
            findings.append(
                Finding(
                    "warning",
                    f"item '{repair[0].id}' is not asked only after tension "
                    f'(ask_if = {{ item = "{tension[0].id}", values = [1, 2] }})',
                )
            )
    return findings


def _content_findings(instrument: Instrument, path: Path) -> list[Finding]:
    """Licence, placeholder wording, file name and domains the digest has no words for."""
    findings = []
    if path.stem != instrument.id:
        findings.append(
            Finding(
                "warning",
                f"the file is named '{path.name}' but its id is '{instrument.id}'; "
                f"the bot loads an instrument from '{instrument.id}.toml'",
            )
        )
    if not instrument.licence.strip():
        findings.append(
            Finding("warning", "no licence field: say under which licence the wording is used")
        )
    placeholders = [
        item.id
        for item in instrument.items
        if any(
            PLACEHOLDER_MARK in text
            for text in [
                *item.text.values(),
                *(label for option in item.options for label in option.label.values()),
            ]
        )
    ]
    if placeholders:
        findings.append(
            Finding(
                "warning",
                f"placeholder wording in {len(placeholders)} item(s) ({', '.join(placeholders)}); "
                "paste the licensed text before clients see it",
            )
        )
    for item in instrument.items:
        if item.reverse and item.kind != "scale":
            findings.append(
                Finding("warning", f"item '{item.id}': reverse only applies to scale items")
            )
    unknown = sorted({item.domain for item in instrument.items} - KNOWN_DOMAINS)
    if unknown:
        findings.append(
            Finding(
                "info",
                f"domains without their own wording in the digest: {', '.join(unknown)} "
                "(allowed; they are shown by name with a general conversation opener)",
            )
        )
    return findings


def check_instrument_file(path: Path) -> list[Finding]:
    """Every error, warning and note about an instrument file, errors first."""
    try:
        instrument = load_instrument(path)
    except InstrumentError as error:
        return [Finding("error", str(error))]
    findings = (
        _core_findings(instrument)
        + _tension_findings(instrument)
        + _content_findings(instrument, path)
    )
    order: dict[Level, int] = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order[f.level])


def validate_instrument_file(path: Path) -> list[str]:
    """The problems that make an instrument unusable; an empty list means it is valid."""
    return [f.message for f in check_instrument_file(path) if f.level == "error"]
