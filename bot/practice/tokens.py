"""Invitation tokens: 256 random bits, URL-safe, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets

# Telegram deep-link payloads allow at most 64 characters of A-Za-z0-9_-.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_token() -> str:
    """A fresh token: 32 random bytes → 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token (hex SHA-256); the token itself is never stored."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Whether text has a token's shape (a cheap check before touching the database)."""
    return TOKEN_PATTERN.fullmatch(text) is not None and len(text) >= 32


def deep_link(bot_username: str, token: str) -> str:
    """The t.me link that opens the bot with /start <token>."""
    return f"https://t.me/{bot_username}?start={token}"
