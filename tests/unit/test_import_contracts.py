"""The import contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold.

The same check as `lint-imports` in .ci/run, run here so that the README's test command
catches a new import that crosses a layer, reaches into bot.offline, or makes the core
depend on the rest of the bot. It runs in its own process: import-linter reconfigures
logging (disabling the loggers that exist), which would silence the bot's loggers for
the tests that follow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
)


def test_every_import_contract_is_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    # The report names each broken contract and the chain of imports that breaks it.
    assert done.returncode == 0, done.stdout + done.stderr
    # Layers, bot.offline kept apart, the pure core, storage apart from the bot.
    assert "Contracts: 4 kept, 0 broken." in done.stdout
