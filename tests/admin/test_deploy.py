"""deploy/alliance-checkin.service: a valid unit (systemd-analyze verify, where systemd is
installed), the one docs/deploy.md points to, and its matplotlib setting works: with a
read-only home and MPLCONFIGDIR set, the bot's chart code draws without a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "alliance-checkin.service"
APP = "/opt/alliance-checkin/app"
# A home nobody can write to, not even root (these tests may run as root).
READ_ONLY_HOME = "/proc/alliance-checkin-no-home"

DRAW = """
import sys
sys.path.insert(0, sys.argv[1])
from zoneinfo import ZoneInfo
from scenarios import build_history, c, steady
from bot.core.chart import render_trend_chart
from bot.core.digest import chart_labels
from bot.core.instrument import get_instrument
from bot.core.strain import assess_strain
from bot.texts import Texts

history = build_history([*steady(6), c(3, 3, 5, 5)])
instrument = get_instrument()
now = max(checkin.session_end for checkin in history.checkins)
assessment = assess_strain(history, instrument, now)
domains = [item.domain for item in instrument.items if item.core]
labels = chart_labels(Texts(), "en", history.alias, domains)
png = render_trend_chart(history, instrument, assessment, labels, ZoneInfo("Europe/Berlin"))
sys.stdout.buffer.write(png)
"""


def _setting(name: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"{name}=")
    ]


def test_the_unit_gives_the_process_its_writable_folders() -> None:
    """Under ProtectSystem=strict only the app folder and the cache folder are writable,
    and matplotlib is told to keep its cache in the latter."""
    assert _setting("ProtectSystem") == ["strict"]
    assert _setting("ReadWritePaths") == [APP]
    assert _setting("CacheDirectory") == ["alliance-checkin"]
    assert _setting("Environment") == ["MPLCONFIGDIR=/var/cache/alliance-checkin/matplotlib"]
    assert _setting("ExecStart") == [f"{APP}/.venv/bin/alliance-checkin run"]


def test_the_deploy_guide_points_to_the_unit_file() -> None:
    """docs/deploy.md installs the shipped file rather than a copy that could drift."""
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "deploy/alliance-checkin.service" in guide
    assert "[Service]" not in guide, "the unit lives in deploy/, not inside the guide"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """systemd-analyze verify has nothing to say about the unit (its paths moved to a
    folder that exists here, with an executable where the console script would be)."""
    app = tmp_path / "app"
    script = app / ".venv" / "bin" / "alliance-checkin"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    script.chmod(0o755)
    unit = tmp_path / "alliance-checkin.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(APP, str(app)), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "Failed to initialize manager" in done.stderr or "System has not been booted" in (
        done.stderr
    ):
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""


def _draw(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HOME")
    }
    return subprocess.run(
        [sys.executable, "-c", DRAW, str(ROOT / "tests" / "core")],
        cwd=tmp_path,
        env={**clean, "HOME": READ_ONLY_HOME, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_a_chart_is_drawn_with_a_read_only_home_and_mplconfigdir_set(tmp_path: Path) -> None:
    """As under the unit: HOME cannot be written, MPLCONFIGDIR points at the cache folder
    (not created yet). The chart comes out, nothing is warned, the font cache is kept."""
    cache = tmp_path / "var-cache" / "alliance-checkin" / "matplotlib"
    done = _draw(tmp_path, MPLCONFIGDIR=str(cache))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    assert done.stderr.decode() == ""
    assert list(cache.glob("fontlist-*.json")), "matplotlib kept no font cache"


def test_without_mplconfigdir_a_read_only_home_makes_matplotlib_warn(tmp_path: Path) -> None:
    """Why the unit sets MPLCONFIGDIR: without it the same process warns on every start
    (and rebuilds its font cache in a throw-away folder)."""
    done = _draw(tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert "Matplotlib created a temporary cache directory" in done.stderr.decode()
