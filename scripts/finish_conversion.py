"""Finish moving the texts into catalogs after merging a main that still has per-locale areas.

One-off tool for the move (delete it once prompts/en/ holds only crisis.toml). Run it in
this branch's checkout in the middle of `git merge main`, when the merge stopped on
conflicts:

    git merge main
    python scripts/finish_conversion.py main

It resolves the conflicts the move causes — a per-locale area changed on main but already
converted here (main's version is taken and converted again, with
scripts/text_rewrites.toml), the old calendar texts (deleted: Babel formats dates), the
sample values of tests/unit/test_all_texts.py (main's are moved into text_samples.py) —
records every text as main renders it (tests/data/texts_before), and converts every
per-locale area left. Then run tests/unit/test_texts_before_after.py, review what it
lists, add the reviewed differences to its EXPECTED, and commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_START = "# Person-given text (aliases, notes)"
# Counts the plural forms need as numbers where the shared sample value is something else.
EXTRA_OVERRIDES = {"loop.monthly": '{"suggested": 3, "held": 1, "improved": 2}'}
DIGEST_TEST_FIXES = {
    '(texts.root / locale / "digest.j2").exists()': "locale in texts.locales",
    '"since 24 Mar"': '"since Mar 24"',
    '"since 3 Mar"': '"since Mar 3"',
    ' · since 24 Mar" in lines': ' · since Mar 24" in lines',
    '"since 24 Mar 2025"': '"since Mar 24, 2025"',
    '"since 03 Mar 2025"': '"since Mar 3, 2025"',
}


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def port_samples(ref: str) -> None:
    """main's sample values (tests/unit/test_all_texts.py) into text_samples.py."""
    theirs = git("show", f"{ref}:tests/unit/test_all_texts.py")
    data = theirs[theirs.index(DATA_START) : theirs.index("def _variables(")]
    samples = ROOT / "tests" / "unit" / "text_samples.py"
    text = samples.read_text(encoding="utf-8")
    start, end = text.index(DATA_START), text.index("\nONE: dict")
    text = text[:start] + data.rstrip() + "\n\n" + text[end:]
    for key, value in EXTRA_OVERRIDES.items():
        if f'"{key}"' not in text:
            head = "OVERRIDES: dict[str, dict[str, Any]] = {\n"
            text = text.replace(head, head + f'    "{key}": {value},\n', 1)
    samples.write_text(text, encoding="utf-8")
    # main's test file with its data moved out, as on this branch.
    ours = (ROOT / "tests" / "unit" / "test_all_texts.py").read_text(encoding="utf-8")
    limits = "# Telegram's limits"
    merged = ours[: ours.index(limits)] + theirs[theirs.index(limits) : theirs.index(DATA_START)]
    merged += ours[ours.index("def _context(") : ours.index("def _limit(")]
    merged += theirs[theirs.index("def _limit(") : theirs.index("def _source(")]
    merged += ours[ours.index("def _source(") : ours.index("def _block_source(")]
    merged += theirs[theirs.index("def _block_source(") :]
    (ROOT / "tests" / "unit" / "test_all_texts.py").write_text(merged, encoding="utf-8")


def main() -> int:
    ref = sys.argv[1] if len(sys.argv) > 1 else "main"
    converted = {p.stem for p in (ROOT / "prompts" / "templates").glob("*.j2")}
    for path in git("diff", "--name-only", "--diff-filter=U").split():
        parts = Path(path).parts
        if len(parts) == 3 and parts[0] == "prompts" and path.endswith(".j2"):
            area = Path(path).stem
            if area == "calendar":
                git("rm", "-q", path)
            elif area in converted:
                git("checkout", "-q", "--theirs", path)
                git("add", path)
        elif path == "tests/unit/test_all_texts.py":
            git("checkout", "-q", "--ours", path)
            port_samples(ref)
            git("add", path, "tests/unit/text_samples.py")
        elif path == "tests/core/test_digest_render.py":
            git("checkout", "-q", "--theirs", path)
    digest_test = ROOT / "tests" / "core" / "test_digest_render.py"
    text = digest_test.read_text(encoding="utf-8")
    for old, new in DIGEST_TEST_FIXES.items():
        text = text.replace(old, new)
    digest_test.write_text(text, encoding="utf-8")
    git("add", str(digest_test.relative_to(ROOT)))
    left = git("diff", "--name-only", "--diff-filter=U").split()
    if left:
        print("resolve these by hand:", *left, sep="\n  ")
    legacy = sorted(p.stem for p in (ROOT / "prompts" / "en").glob("*.j2"))
    print("converting:", " ".join(legacy) or "nothing")
    command = [sys.executable, str(ROOT / "scripts" / "convert_texts.py"), "--before-from", ref]
    done = subprocess.run([*command, "--remove-old", *legacy], cwd=ROOT).returncode
    git("add", "-A", "prompts", "tests/data/texts_before")
    return done


if __name__ == "__main__":
    raise SystemExit(main())
