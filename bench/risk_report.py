"""Print the risk detector's figures on the tuning corpus and the held-out blocks, and its speed.

Run: .venv/bin/python bench/risk_report.py [--repeat N] [--set tuning|heldout|all]

Two sets are reported separately. The tuning corpus (tests/data/risk_corpus.tsv) is what
the lexicon was written from: its figure is a regression test. The held-out blocks
(tests/data/risk_heldout/*.tsv) were written before the detector was run on them and are
never used to change it: their figure is the honest estimate. For each set: recall on
risk lines and the false-alarm rate on safe lines (overall, per language, per category,
and everyday/idiomatic text apart from plain denials), every flagged safe line and every
missed risk line (the texts are invented, so printing them is fine). Then texts per
second, the per-message cost (median and p99), and worst-case 100,000-character inputs.
The figures in docs/risk-language.md come from this script.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.risk import RiskAssessment, assess_risk, load_lexicon  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "risk_corpus.tsv"
HELDOUT = ROOT / "tests" / "data" / "risk_heldout"

WORST_CASES = {
    "ordinary prose": ("the session was fine and she listened to me " * 2300)[:100_000],
    "one repeated common word": "not " * 25_000,
    "negation + but, repeated": "I'm not suicidal but " * 4_700,
    "spelled-out letters": "k.i.l.l " * 12_500,
    "emoji only": "💊🔪" * 50_000,
    "one 100k-character token": "a" * 100_000,
}


Row = tuple[str, str, str, str]


def read_tsv(path: Path) -> list[Row]:
    """(label, lang, category, text) rows of one labelled file."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["label"], r["lang"], r["category"], r["text"]) for r in reader]


def heldout_files() -> list[Path]:
    """The held-out blocks, oldest first."""
    return sorted(HELDOUT.glob("*.tsv"))


def rate(hits: int, total: int) -> str:
    """ "n/total = p%" or "-" when there is nothing to count."""
    return f"{hits}/{total} = {hits / total:6.1%}" if total else "-"


def report_quality(name: str, rows: list[Row], show_lines: bool = True) -> None:
    """Recall and false alarms, overall and per language and category."""
    results: list[RiskAssessment] = [assess_risk(text) for _, _, _, text in rows]
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    levels: dict[str, int] = defaultdict(int)
    for (label, lang, category, _), result in zip(rows, results, strict=True):
        keys = ["overall", f"lang {lang}", f"category {category}"]
        if label == "safe" and category != "negation":
            keys += ["everyday+idiom", f"everyday+idiom {lang}"]
        for key in keys:
            counts = groups[key]
            index = 0 if label == "risk" else 2
            counts[index] += 1
            counts[index + 1] += result.at_risk
        if label == "risk":
            levels[result.level] += 1
    risk_total, safe_total = groups["overall"][0], groups["overall"][2]
    print(f"\n=== {name}: {len(rows)} lines, {risk_total} risk, {safe_total} safe ===")
    print(f"\n{'group':<36} {'recall (risk lines caught)':<28} false alarms (safe lines flagged)")
    for key in sorted(groups, key=lambda k: (k != "overall", k)):
        risk, hit, safe, alarm = groups[key]
        print(f"{key:<36} {rate(hit, risk):<28} {rate(alarm, safe)}")
    print(
        "\nLevels given to risk lines: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items()))
    )

    if not show_lines:
        return
    flagged = [(row, res) for row, res in zip(rows, results, strict=True) if row[0] == "safe"]
    flagged = [(row, res) for row, res in flagged if res.at_risk]
    print(f"\nSafe lines flagged ({len(flagged)}):")
    for (_, lang, category, text), result in flagged:
        print(f"  [{lang} {category}] {text!r} -> {result.level} {', '.join(result.signals)}")
    missed = [row for row, res in zip(rows, results, strict=True) if row[0] == "risk"]
    missed = [row for row in missed if not assess_risk(row[3]).at_risk]
    print(f"\nRisk lines missed ({len(missed)}):")
    for _, lang, category, text in missed:
        print(f"  [{lang} {category}] {text!r}")


def report_speed(rows: list[Row], repeat: int) -> None:
    """Texts per second over the corpus repeated, per-message cost, worst-case inputs."""
    texts = [text for _, _, _, text in rows]
    start = time.perf_counter()
    load_lexicon()
    print(f"\nLexicon load and compile: {time.perf_counter() - start:.2f} s (once per process)")
    for text in texts:  # warm the per-word cache, as in a running bot
        assess_risk(text)
    start = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            assess_risk(text)
    elapsed = time.perf_counter() - start
    count = repeat * len(texts)
    chars = repeat * sum(len(t) for t in texts)
    print(
        f"Throughput: {count} texts in {elapsed:.2f} s = {count / elapsed:,.0f} texts/s "
        f"({chars / elapsed / 1e6:.2f} M chars/s, mean {chars / count:.0f} chars/text)"
    )
    costs = []
    for text in texts:
        start = time.perf_counter()
        assess_risk(text)
        costs.append(time.perf_counter() - start)
    costs.sort()
    print(
        f"Per message: median {costs[len(costs) // 2] * 1e3:.3f} ms, "
        f"p99 {costs[int(len(costs) * 0.99)] * 1e3:.3f} ms, max {costs[-1] * 1e3:.3f} ms"
    )
    print("\nWorst-case inputs (100,000 characters each):")
    for name, text in WORST_CASES.items():
        start = time.perf_counter()
        assess_risk(text)
        print(f"  {name:<28} {time.perf_counter() - start:6.2f} s")
    print(f"\nPython {platform.python_version()} on {platform.machine()}, {platform.system()}")


def main() -> None:
    """Parse arguments and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="corpus passes for throughput")
    parser.add_argument("--set", choices=("tuning", "heldout", "all"), default="all")
    parser.add_argument(
        "--figures-only",
        action="store_true",
        help="print no line texts (keeps a fresh held-out block unseen while measuring)",
    )
    args = parser.parse_args()
    tuning = read_tsv(CORPUS)
    if args.set in ("tuning", "all"):
        report_quality(
            f"TUNING {CORPUS.relative_to(ROOT)} (regression test)", tuning, not args.figures_only
        )
    if args.set in ("heldout", "all"):
        heldout: list[Row] = []
        # A held-out line that is also in the tuning corpus (the same words written twice)
        # was tuned on: it is left out of the held-out figures.
        seen = {row[3] for row in tuning}
        for path in heldout_files():
            block = read_tsv(path)
            overlap = [row for row in block if row[3] in seen]
            block = [row for row in block if row[3] not in seen]
            if overlap:
                print(f"\n{path.name}: {len(overlap)} line(s) also in the tuning corpus left out")
            heldout += block
            report_quality(f"HELD-OUT block {path.relative_to(ROOT)}", block, not args.figures_only)
        if len(heldout_files()) > 1:
            report_quality("HELD-OUT all blocks", heldout, not args.figures_only)
    report_speed(tuning, max(1, args.repeat))


if __name__ == "__main__":
    main()
