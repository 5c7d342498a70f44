"""`alliance-checkin instrument check PATH`: what an instrument file needs beyond parsing."""

from __future__ import annotations

from pathlib import Path

from scenarios import Visit, build_history, digest_time

from bot.core.instrument import INSTRUMENTS_DIR, load_instrument
from bot.core.instrument_check import check_instrument_file, validate_instrument_file
from bot.core.strain import Severity, assess_strain

WAI_SR = INSTRUMENTS_DIR / "examples" / "wai-sr-placeholder.toml"

HEADER = """
id = "{id}"
version = 1
licence = "test"
locales = ["en"]
[name]
en = "Test"
[scales.agree5]
min = 1
max = 5
[scales.agree5.labels]
en = ["1", "2", "3", "4", "5"]
"""


def write(tmp_path: Path, items: str, name: str = "test-instrument") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(HEADER.format(id="test-instrument") + items, encoding="utf-8")
    return path


SCALE_ITEM = """
[[items]]
id = "{id}"
domain = "{domain}"
kind = "scale"
scale = "agree5"
core = {core}
text = {{ en = "Question" }}
"""


def test_default_instrument_is_clean() -> None:
    assert check_instrument_file(INSTRUMENTS_DIR / "alliance-default.toml") == []


def test_wai_sr_placeholder_is_valid_but_flagged_as_placeholder() -> None:
    assert validate_instrument_file(WAI_SR) == []
    messages = [str(f) for f in check_instrument_file(WAI_SR)]
    assert any(m.startswith("warning: placeholder wording in 12 item(s)") for m in messages)
    assert any(m.startswith("info: no tension item") for m in messages)


def test_wai_sr_placeholder_has_the_wai_sr_shape() -> None:
    instrument = load_instrument(WAI_SR)
    assert len(instrument.items) == 12
    assert all(i.core and (i.scale_min, i.scale_max) == (1, 5) for i in instrument.items)
    by_domain = {
        domain: [item.id for item in instrument.items if item.domain == domain]
        for domain in ("tasks", "bond", "goals")
    }
    assert by_domain == {
        "tasks": ["wai01", "wai02", "wai10", "wai12"],
        "bond": ["wai03", "wai05", "wai07", "wai09"],
        "goals": ["wai04", "wai06", "wai08", "wai11"],
    }
    assert "Society for Psychotherapy Research" in WAI_SR.read_text(encoding="utf-8")


def test_strain_rules_work_on_a_plugged_in_instrument() -> None:
    instrument = load_instrument(WAI_SR)
    high = {item.id: 5 for item in instrument.items}
    dip = {**high, "wai03": 2, "wai05": 3}
    visits = [Visit(answers=high, instrument_id=instrument.id) for _ in range(5)]
    visits.append(Visit(answers=dip, instrument_id=instrument.id))
    assessment = assess_strain(build_history(visits), instrument, digest_time(visits))
    assert assessment.severity == Severity.CONVERSATION
    assert assessment.dipped[0] == "bond"


def test_broken_toml_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("id = ", encoding="utf-8")
    problems = validate_instrument_file(path)
    assert len(problems) == 1 and "not valid TOML" in problems[0]
    assert validate_instrument_file(tmp_path / "missing.toml")


def test_an_instrument_needs_a_core_item(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE_ITEM.format(id="q", domain="bond", core="false"))
    assert any("core" in p for p in validate_instrument_file(path))


def test_core_items_must_be_scales(tmp_path: Path) -> None:
    items = (
        SCALE_ITEM.format(id="q", domain="bond", core="true")
        + """
[[items]]
id = "yesno"
domain = "goals"
kind = "choice"
core = true
text = { en = "Q" }
options = [ { value = 0, code = "no", label = { en = "No" } },
            { value = 1, code = "yes", label = { en = "Yes" } } ]
"""
    )
    assert validate_instrument_file(write(tmp_path, items)) == [
        "item 'yesno': core items must be scales, not choice"
    ]


def test_tension_item_must_be_coded_from_zero(tmp_path: Path) -> None:
    items = (
        SCALE_ITEM.format(id="q", domain="bond", core="true")
        + """
[[items]]
id = "tension"
domain = "tension"
kind = "choice"
text = { en = "Q" }
options = [ { value = 1, code = "none", label = { en = "None" } },
            { value = 2, code = "some", label = { en = "Some" } } ]
"""
    )
    problems = validate_instrument_file(write(tmp_path, items))
    assert problems == ["item 'tension': needs an option with value 0 (no tension)"]


def test_unknown_domains_are_allowed_and_noted(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE_ITEM.format(id="q", domain="hope", core="true"))
    assert validate_instrument_file(path) == []
    infos = [f.message for f in check_instrument_file(path) if f.level == "info"]
    assert any("hope" in m for m in infos)


def test_file_name_must_match_the_id(tmp_path: Path) -> None:
    path = write(tmp_path, SCALE_ITEM.format(id="q", domain="bond", core="true"), name="other")
    warnings = [f.message for f in check_instrument_file(path) if f.level == "warning"]
    assert any("test-instrument.toml" in w for w in warnings)
