"""`alliance-checkin demo --fast`: the offline demo a newcomer runs, played as CI runs it.

The demo is the real bot against the stand-in; this test reads what it prints, as
the newcomer would, and checks the digest's verdict for each invented story.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.offline.demo import STORIES
from bot.texts import default_texts

# One worker plays the demo for every test here (its module-scoped fixture would otherwise
# run once on each pytest-xdist worker that gets one of them).
pytestmark = pytest.mark.xdist_group("demo")

# Groups listed one line per client under a heading, and groups listed as names on a line.
LINE_GROUPS = ("risk", "conversation", "watch")
NAME_LINES = {"🌱": "repaired", "✅": "steady", "⏳": "no_checkins", "⏸": "away"}


def digest_groups(digest: str) -> dict[str, str]:
    """Which group of the digest's triage each client is listed in."""
    texts = default_texts()
    headings = {
        re.sub(r"<[^>]+>", "", texts.plain("en", f"digest.group_{name}")).strip(): name
        for name in LINE_GROUPS
    }
    aliases = {story.alias for story in STORIES}
    found: dict[str, str] = {}
    group = ""
    for line in digest.splitlines():
        line = line.strip()
        if line in headings:
            group = headings[line]
            continue
        words = line.split()
        if line.startswith("🌱 ") and len(words) > 1 and words[1] in aliases:
            found.setdefault(words[1], "repaired")  # good news after a held conversation
            continue
        if line[:1] in NAME_LINES and ": " in line:
            for name in line.split(": ", 1)[1].split(", "):
                if name in aliases:
                    found.setdefault(name, NAME_LINES[line[:1]])
            group = ""
            continue
        first = re.split(r"[\s·—–-]+", line.removeprefix("⚠️").strip(), maxsplit=1)[0]
        if group and first in aliases and first not in found:
            found[first] = group
    return found


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, Path]:
    """Run the fast demo once for every test here (it takes seconds, not minutes)."""
    out = tmp_path_factory.mktemp("charts")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["demo", "--fast", "--out", str(out)])
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_the_demo_exits_0_and_shows_progress(demo_output: tuple[int, str, str, Path]) -> None:
    """Exit code 0; progress lines on stderr; the sections a newcomer reads on stdout."""
    code, out, err, _charts = demo_output
    assert code == 0
    assert "week 1 of" in err and "check-ins answered" in err
    for section in ("What a client sees", "weeks of check-ins", "weekly digest", "Done"):
        assert section in out
    assert "\x1b[" not in out, "no terminal escape codes when the output is not a terminal"


def test_a_client_sees_the_checkin_with_its_buttons(
    demo_output: tuple[int, str, str, Path],
) -> None:
    """The first check-in is shown question by question, with the buttons a client taps."""
    _code, out, _err, _charts = demo_output
    section = out.split("What a client sees", 1)[1].split("weeks of check-ins", 1)[0]
    assert "I felt heard and taken seriously by my therapist in this session." in section
    assert "[ 5 · Completely ]" in section
    assert "[ No ]  [ A little ]  [ A lot ]" in section
    assert "[ Skip ]" in section
    assert "Thank you!" in section


def test_the_digest_suggests_a_conversation_only_where_the_story_calls_for_it(
    demo_output: tuple[int, str, str, Path],
) -> None:
    """Ceiling-then-drop, unresolved tension and withdrawal: a relationship conversation;
    the steady clients (English and Spanish) are listed as steady; the repair is good news."""
    _code, out, _err, _charts = demo_output
    digest = out.split("weekly digest, as Telegram shows it", 1)[1].split("── Done", 1)[0]
    groups = digest_groups(digest)
    assert set(groups) == {story.alias for story in STORIES}, groups
    for story in STORIES:
        if story.calls_for_conversation:
            assert groups[story.alias] == "conversation", (story.alias, groups)
        else:
            assert groups[story.alias] != "conversation", (story.alias, groups)
    assert groups["robin"] == "steady" and groups["lucia"] == "steady"
    assert groups["sam"] == "repaired"
    assert "You might open with:" in digest, "the therapist tapped a name: its detail"


def test_the_digest_charts_are_written_to_the_named_folder(
    demo_output: tuple[int, str, str, Path],
) -> None:
    """Every chart image is a PNG in the folder the last lines name."""
    _code, out, _err, charts = demo_output
    images = sorted(charts.glob("*.png"))
    assert images, "the details of strained clients carry trend charts"
    assert all(image.read_bytes().startswith(b"\x89PNG") for image in images)
    assert str(charts.resolve()) in out


def test_the_temporary_database_is_removed_without_keep(
    demo_output: tuple[int, str, str, Path],
) -> None:
    """Without --keep nothing is left behind but the charts."""
    _code, out, _err, _charts = demo_output
    assert "temporary database was deleted" in out
