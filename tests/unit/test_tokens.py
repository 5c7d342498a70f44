"""Invitation tokens: unguessable, deep-link safe, stored only as a hash."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from bot.practice.tokens import deep_link, hash_token, looks_like_token, new_token

DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def test_a_token_is_a_valid_start_payload_with_at_least_128_bits() -> None:
    """Telegram allows 64 characters of A-Za-z0-9_- after ?start=; each character carries 6 bits."""
    for _ in range(200):
        token = new_token()
        assert DEEP_LINK_PAYLOAD.fullmatch(token)
        assert len(token) * 6 >= 128
        assert looks_like_token(token)


def test_tokens_do_not_repeat() -> None:
    """Two thousand tokens, two thousand different ones."""
    assert len({new_token() for _ in range(2000)}) == 2000


def test_the_stored_form_is_a_sha256_and_not_the_token() -> None:
    """What goes into the database is a hex SHA-256 from which the token cannot be read back."""
    token = new_token()
    stored = hash_token(token)
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored and len(stored) == 64


def test_the_deep_link_has_the_contract_form() -> None:
    """https://t.me/<bot username>?start=<token>."""
    token = new_token()
    assert deep_link("alliance_bot", token) == f"https://t.me/alliance_bot?start={token}"


@given(st.text(max_size=80))
def test_only_token_shaped_text_is_looked_up(text: str) -> None:
    """Short, long or odd text never reaches the database as a token."""
    if looks_like_token(text):
        assert DEEP_LINK_PAYLOAD.fullmatch(text) and len(text) >= 32


def test_non_ascii_text_hashes_without_error() -> None:
    """A forged payload with odd characters is hashed (and found nowhere), never an exception."""
    assert len(hash_token("ünïcødé‮")) == 64
