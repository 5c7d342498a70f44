"""The end-to-end stories run at Telegram's real per-chat pace (the outbox paces them)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def testbed_options() -> dict[str, Any]:
    """The testbed's defaults: the real per-chat pace."""
    return {}
