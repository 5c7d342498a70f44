"""What a practice installs: the licence, the package metadata, the ignored demo output."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

from bot import cli
from bot.offline import demo

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_licence_is_the_full_agpl_text() -> None:
    """LICENSE is the GNU AGPL version 3, whole (its first line and its section 13)."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) > 600


def test_the_package_declares_its_licence_as_an_spdx_expression() -> None:
    """`license` is an SPDX string (no deprecated table) and needs setuptools 77 or newer."""
    project = PYPROJECT["project"]
    assert project["license"] == "AGPL-3.0-or-later"
    assert project["license-files"] == ["LICENSE"]
    [setuptools] = [r for r in PYPROJECT["build-system"]["requires"] if "setuptools" in r]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum and int(minimum.group(1)) >= 77


def test_no_unused_rate_limiter_extra() -> None:
    """The bot brings its own limiter (bot/sending/flood.py), not PTB's aiolimiter extra."""
    [ptb] = [d for d in PYPROJECT["project"]["dependencies"] if "python-telegram-bot" in d]
    assert "rate-limiter" not in ptb


def test_the_demo_charts_folder_is_ignored_by_git() -> None:
    """The folder the demo writes by default is the one .gitignore names."""
    default = cli._parser().parse_args(["demo"]).out
    assert default == str(demo.Options(weeks=1, keep=False).out)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f"{default}/chart.png"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, f".gitignore does not cover {default}/"


def _bench_answers() -> ModuleType:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_answers", ROOT / "bench/answers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_the_answer_benchmark_says_faster_when_the_bot_beat_the_floor() -> None:
    """bench/answers.py once printed "0.74x slower" for a bot faster than the bare floor."""
    ratio = _bench_answers().throughput_ratio
    assert ratio(ours=135.0, floor=100.0) == "1.35x faster"
    assert ratio(ours=100.0, floor=135.0) == "1.35x slower"
    assert ratio(ours=100.0, floor=100.0) == "the same"
