"""The practice's strain thresholds, read from ``prompts/strain_policy.toml``.

Every threshold of the strain rules is a named setting (``bot.core.strain.StrainSettings``);
a practice changes them in this file, without code. The file is read and checked when the
bot starts (``Services``) and by ``doctor``: an unknown name, a wrong type or thresholds
that contradict each other are refused with every problem named.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from bot.core.strain import StrainPolicyError, StrainSettings, settings_from_policy
from bot.texts import PROMPTS_DIR

POLICY_FILE = PROMPTS_DIR / "strain_policy.toml"


def read_strain_policy(path: Path = POLICY_FILE) -> StrainSettings:
    """The thresholds in a policy file (defaults where it is silent or absent)."""
    if not path.exists():
        return StrainSettings()
    try:
        policy = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise StrainPolicyError(f"{path.name}: {exc}") from exc
    try:
        return settings_from_policy(policy)
    except StrainPolicyError as exc:
        raise StrainPolicyError(f"{path.name}: {exc}") from exc


@lru_cache(maxsize=1)
def practice_strain_settings() -> StrainSettings:
    """The practice's thresholds, read once per process."""
    return read_strain_policy()
