"""The import contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold.

The same check as `lint-imports` in .ci/run, run here so that the README's test command
catches a new import that crosses a layer, reaches into bot.offline, or makes the core
depend on the rest of the bot.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_import_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    status = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report  # the report names each broken contract and the import chain
    # Layers, bot.offline kept apart, the pure core, storage apart from the bot.
    assert "Contracts: 4 kept, 0 broken." in report
