"""Print the risk detector's figures on the labelled corpus, and its throughput.

Run: .venv/bin/python bench/risk_report.py [--repeat N]

Shows recall on risk lines and the false-alarm rate on safe lines (overall, per
language, per category), lists every safe line that was flagged and every risk line
that was missed (the corpus is invented, so printing it is fine), and measures
texts per second over the corpus repeated, plus the time for worst-case 100,000-
character inputs. The figures in docs/risk-language.md come from this script.
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

WORST_CASES = {
    "ordinary prose": ("the session was fine and she listened to me " * 2300)[:100_000],
    "one repeated common word": "not " * 25_000,
    "negation + but, repeated": "I'm not suicidal but " * 4_700,
    "spelled-out letters": "k.i.l.l " * 12_500,
    "emoji only": "💊🔪" * 50_000,
    "one 100k-character token": "a" * 100_000,
}


def read_corpus() -> list[tuple[str, str, str, str]]:
    """(label, lang, category, text) rows of the corpus."""
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["label"], r["lang"], r["category"], r["text"]) for r in reader]


def rate(hits: int, total: int) -> str:
    """ "n/total = p%" or "-" when there is nothing to count."""
    return f"{hits}/{total} = {hits / total:6.1%}" if total else "-"


def report_quality(rows: list[tuple[str, str, str, str]]) -> None:
    """Recall and false alarms, overall and per language and category."""
    results: list[RiskAssessment] = [assess_risk(text) for _, _, _, text in rows]
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    levels: dict[str, int] = defaultdict(int)
    for (label, lang, category, _), result in zip(rows, results, strict=True):
        for key in ("overall", f"lang {lang}", f"category {category}"):
            counts = groups[key]
            index = 0 if label == "risk" else 2
            counts[index] += 1
            counts[index + 1] += result.at_risk
        if label == "risk":
            levels[result.level] += 1
    risk_total, safe_total = groups["overall"][0], groups["overall"][2]
    print(f"Corpus: {CORPUS.relative_to(ROOT)}: {len(rows)} lines, "
          f"{risk_total} risk, {safe_total} safe")  # fmt: skip
    print(f"\n{'group':<36} {'recall (risk lines caught)':<28} false alarms (safe lines flagged)")
    for key in sorted(groups, key=lambda k: (k != "overall", k)):
        risk, hit, safe, alarm = groups[key]
        print(f"{key:<36} {rate(hit, risk):<28} {rate(alarm, safe)}")
    print(
        "\nLevels given to risk lines: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items()))
    )

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


def report_speed(rows: list[tuple[str, str, str, str]], repeat: int) -> None:
    """Texts per second over the corpus repeated, and worst-case long inputs."""
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
    args = parser.parse_args()
    rows = read_corpus()
    report_quality(rows)
    report_speed(rows, max(1, args.repeat))


if __name__ == "__main__":
    main()
