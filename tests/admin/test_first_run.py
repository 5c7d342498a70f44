"""`./scripts/run` on a fresh copy, as a new admin meets it: install progress, then one line.

The copy is the project's tracked files and nothing else (no .venv, no .env). To keep
the test to seconds its .venv reuses the packages this test runs with (a .pth line) and
pip installs only the project itself into it — the same script path a fresh machine
takes, with the dependencies already at hand.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN_MISSING = (
    "alliance-checkin: TELEGRAM_BOT_TOKEN is not set: put the token from BotFather in .env"
)
KEY_WRITTEN = (
    "A new encryption key was written to .env — back it up: without it stored notes cannot be read."
)


def _fresh_copy(target: Path) -> None:
    """The tracked files of this checkout (as committed or edited), nothing generated."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():
            destination = target / raw.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read_bytes())
            destination.chmod(source.stat().st_mode)


def _venv_reusing_our_packages(project: Path) -> None:
    """project/.venv on this interpreter, seeing the installed dependencies, without the bot."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    ours = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    pth = project / ".venv" / "lib" / version / "site-packages" / "reuse-test-packages.pth"
    # Paths only: the .pth files there (another checkout's editable install) are not read.
    pth.write_text("\n".join(dict.fromkeys(ours)) + "\n", encoding="utf-8")


def _run(project: Path) -> tuple[int, list[str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("TELEGRAM_", "DATABASE_", "ENCRYPTION_", "LOG_"))
        and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    done = subprocess.run(
        ["./scripts/run"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout.splitlines()


@pytest.mark.workers
def test_run_without_a_token_says_so_in_one_line_after_installing(tmp_path: Path) -> None:
    """First run: what it installs, the new key, the missing token; next run: one line; a
    changed pyproject.toml (a new dependency) installs again."""
    project = tmp_path / "alliance"
    _fresh_copy(project)
    assert not (project / ".env").exists()
    _venv_reusing_our_packages(project)

    code, first = _run(project)
    assert code == 2, "\n".join(first)
    assert first[0].startswith("Installing Alliance Check-in into .venv"), first
    installed = next(i for i, line in enumerate(first) if line.startswith("Installed in "))
    assert all(line.startswith("  ") for line in first[1:installed]), first
    # After the install: the new key's warning and the missing token, nothing else (no
    # setuptools warnings, no Alembic notes, no traceback).
    assert first[installed + 1 :] == [KEY_WRITTEN, TOKEN_MISSING], first
    assert (project / ".venv" / "installed-base").is_file()

    code, second = _run(project)
    assert code == 2
    assert second == [TOKEN_MISSING]

    with (project / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write("\n# a new dependency would be here\n")
    _code, third = _run(project)
    assert third[0].startswith("Installing Alliance Check-in into .venv"), third
    assert third[-1] == TOKEN_MISSING
