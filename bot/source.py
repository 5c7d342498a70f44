"""The running code as a .tar.gz, for /source when no SOURCE_URL is set (AGPL section 13).

The archive is built from the files this very process imports (the bot, storage and
prompts packages, wherever they are installed) plus the licence, so what a person gets
is the code that answers them, with any change the practice made.
"""

from __future__ import annotations

import io
import tarfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import bot
import prompts
import storage

ROOT_NAME = "alliance-checkin"
# Source files only: no caches, no databases, no .env.
SUFFIXES = (".py", ".j2", ".toml", ".mako", ".yaml", ".tsv", ".po", ".pot")


def _licence() -> bytes | None:
    """The LICENSE shipped with the package, or the source tree's."""
    checkout = Path(bot.__file__).resolve().parents[1] / "LICENSE"
    if checkout.is_file():
        return checkout.read_bytes()
    try:
        files = metadata.files("alliance-checkin") or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "LICENSE":
            return Path(str(file.locate())).read_bytes()
    return None


@lru_cache(maxsize=1)
def source_archive() -> bytes:
    """A gzipped tar of the running packages and the licence (built once per process)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for package in (bot, storage, prompts):
            folder = Path(str(package.__file__)).resolve().parent
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                    name = f"{ROOT_NAME}/{folder.name}/{path.relative_to(folder).as_posix()}"
                    archive.add(path, arcname=name, recursive=False)
        licence = _licence()
        if licence is not None:
            info = tarfile.TarInfo(f"{ROOT_NAME}/LICENSE")
            info.size = len(licence)
            archive.addfile(info, io.BytesIO(licence))
    return buffer.getvalue()
