"""Sampling a benchmark's process with py-spy (``--py-spy FOLDER`` on the benchmarks).

py-spy is not one of the project's dependencies: ``.venv/bin/pip install py-spy`` first.
It samples another process from outside (here at 200 Hz, without pausing it), only
while a thread holds the GIL: the samples are where the process spends its CPU on Python
and on C code called from it (the drivers' C parts that release the GIL, such as SQLite's
own work, are not in them), and waiting is left out. Sampling costs a few per cent:
figures measured while sampling are a little higher; profile and measure in separate runs.
Read a profile with ``bench/profile_summary.py``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


@contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Sample process ``pid`` into ``output`` (py-spy's raw format) while the block runs;
    nothing when ``output`` is None."""
    if output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            _binary(),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--function",
            "--nonblocking",
            "--gil",
            "--rate",
            "200",
            "--output",
            str(output),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)  # attached before the work starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes the file when interrupted
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
