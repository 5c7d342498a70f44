"""Where a process's time went: a summary of a py-spy raw profile (collapsed stacks).

Run: .venv/bin/python bench/profile_summary.py PROFILE.txt [--top 25]

PROFILE.txt is what ``py-spy record --format raw`` writes (bench/answers.py and
bench/dispatch.py write one per process with ``--py-spy FOLDER``): one line per distinct
stack, ``frame;frame;…;frame COUNT``, outermost first. Printed:

- each package's share of the samples, by the frame at the top of the stack (where the
  time was spent: python-telegram-bot, SQLAlchemy, the event loop, the bot's own code…);
- the functions with the most samples at the top of the stack (self time);
- this project's functions (bot/, storage/, prompts/) by the samples they appear in
  anywhere on the stack (inclusive time): what each of them costs with everything it calls.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "function (path/to/file.py:123)"; py-spy shortens paths to the package part.
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")
OWN = ("bot/", "storage/", "prompts/")


def parse(path: Path) -> list[tuple[list[str], int]]:
    """The stacks (outermost frame first) and their sample counts."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def file_of(frame: str) -> str:
    """The (shortened) file a frame is in; '' when py-spy gave none."""
    match = FRAME.match(frame)
    return match.group("path") if match else ""


def package_of(frame: str) -> str:
    """The top-level package or module a frame belongs to ("telegram", "bot", "asyncio"…)."""
    path = file_of(frame)
    if not path:
        return "(native or unknown)"
    path = path.removeprefix("<frozen ").rstrip(">")
    head = path.split("/", 1)[0]
    return head.removesuffix(".py")


def own(frame: str) -> bool:
    """Whether the frame is this project's code."""
    return file_of(frame).startswith(OWN)


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    """The three tables, as text."""
    total = sum(count for _, count in stacks) or 1
    by_package: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        by_package[package_of(leaf)] += count
        by_self[leaf] += count
        for frame in set(frames):
            if own(frame):
                inclusive[frame] += count
    lines = [f"{total} samples", "", "by package (top of stack):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_package.most_common(top)]
    lines += ["", "self (top of stack):"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in by_self.most_common(top)]
    lines += ["", "this project's functions, inclusive:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    """Print the summary of one profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarise(parse(args.profile), args.top))


if __name__ == "__main__":
    main()
