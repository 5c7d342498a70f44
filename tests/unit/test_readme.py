"""The README a newcomer follows: its settings table, its links and its commands are true."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from bot.cli import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_table_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts/settings_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_table_matches_the_settings_class() -> None:
    """README's table is exactly what scripts/settings_table.py prints from Settings."""
    tool = _settings_table_module()
    current = tool.readme_table(README)
    assert current is not None, "README.md lost its settings-table markers"
    assert current == tool.settings_table(), (
        "README.md's configuration table is out of date: run "
        "`python scripts/settings_table.py --write`"
    )


def test_every_setting_has_a_description() -> None:
    """A setting without a meaning would leave an empty cell in the table."""
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing


def test_every_setting_is_in_env_example() -> None:
    """.env.example names every setting, so copying it shows everything there is."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [
        name.upper()
        for name in Settings.model_fields
        if not re.search(rf"^#?\s*{name.upper()}=", example, re.MULTILINE)
    ]
    assert not missing, f".env.example lacks {missing}"


def test_the_two_commands_come_first_and_exist() -> None:
    """The first code block is ./scripts/run and ./scripts/test, and both scripts exist."""
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line]
    assert commands == ["./scripts/run", "./scripts/test"]
    for script in ("run", "test", "demo"):
        path = ROOT / "scripts" / script
        assert path.exists() and path.stat().st_mode & 0o111, f"scripts/{script} is not executable"


@pytest.mark.parametrize(
    "target", sorted(set(re.findall(r"\]\(((?!https?://)[^)#\s]+)(?:#[^)]*)?\)", README)))
)
def test_relative_links_point_to_files_that_exist(target: str) -> None:
    """Every link to a file of the project resolves."""
    assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_every_command_in_the_readme_is_a_real_subcommand() -> None:
    """`alliance-checkin X` in the README is a subcommand the command line knows."""
    parser = _parser()
    known = next(
        action.choices for action in parser._actions if hasattr(action, "_name_parser_map")
    )
    used = {
        shlex.split(match)[0]
        for match in re.findall(r"alliance-checkin ([a-z][a-z-]+(?: [a-z]+)?)", README)
    }
    assert known is not None
    unknown = sorted(name for name in used if name not in known)
    assert not unknown, f"README mentions unknown subcommands {unknown}"


def _plain(key: str, **context: object) -> str:
    """An English text as Telegram shows it (tags dropped)."""
    from bot.texts import default_texts

    return re.sub(r"<[^>]+>", "", default_texts().plain("en", key, **context))


def test_the_checkin_example_shows_todays_questions_and_buttons() -> None:
    """The README's check-in example uses the current first question and button labels."""
    from bot.core.instrument import get_instrument

    instrument = get_instrument()
    first = next(item for item in instrument.items if item.kind == "scale")
    assert first.text["en"] in README
    for option in first.options:
        label = _plain("checkin.scale_button", number=option.value, label=option.label["en"])
        assert f"[ {label} ]" in README, label
    tension = next(item for item in instrument.items if item.domain == "tension")
    assert "  ".join(f"[ {o.label['en']} ]" for o in tension.options) in README


def test_the_digest_example_uses_todays_headings() -> None:
    """The README's digest example shows the headings and buttons the digest uses now."""
    for group in ("conversation", "risk"):
        assert _plain(f"digest.group_{group}") in README, group
    assert _plain("digest.names_steady", names=["lucia", "robin"]) in README
    assert f"[ {_plain('digest.detail_button', alias='noor')} ]" in README
    for answer in ("held", "not_yet", "not_needed"):
        assert f"[ {_plain(f'loop.button_{answer}')} ]" in README, answer
