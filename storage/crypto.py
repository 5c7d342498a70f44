"""Authenticated encryption of free text at rest, bound to the row it belongs to.

Every piece of free text the bot stores (client comments, stored message text,
queued outgoing message payloads) goes through :class:`Cipher`. This module is
pure: it knows nothing about the database; callers pass a *context* string that
names the row (build it with :func:`context_for`) and store the returned bytes.

Why AES-256-GCM with associated data rather than Fernet
-------------------------------------------------------
Fernet authenticates only its own ciphertext; it has no associated data. A
Fernet token copied from one client's row into another client's row (or from
one answer to another) would decrypt without complaint, so a database-level
mix-up or a malicious edit could show one client's words as another's. With
AES-GCM the caller's context (e.g. ``answer:checkin=12:client=7:item=comment``)
is authenticated together with the ciphertext, so a token only decrypts for the
row it was written for.

Token format (version 1)
------------------------
::

    offset  length  field
    0       1       version byte, 0x01
    1       8       key id: first 8 bytes of SHA-256(key)
    9       12      random nonce (96 bits, from the OS CSPRNG)
    21      n + 16  AES-256-GCM ciphertext of UTF-8(plaintext), then 16-byte tag

The associated data is ``version byte || key id || UTF-8(context)``. The header
is fixed-length, so the concatenation is unambiguous, and including it means
the version and key id cannot be altered without detection either.

The key id lets us pick the right key and tell keys apart (for rotation
progress) without revealing them. Random 96-bit nonces are safe for well over
the number of messages a practice will ever store under one key.

Keys and rotation
-----------------
``ENCRYPTION_KEYS`` holds comma-separated keys, newest first, each 32 random
bytes in URL-safe base64 (the format of ``Fernet.generate_key()``). New tokens
are always made with the newest key; any configured key decrypts. To rotate:
put a new key first, run the re-encryption job (:meth:`Cipher.reencrypt` on
every stored token), then drop the old key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "TOKEN_VERSION",
    "Cipher",
    "DecryptionError",
    "KeyConfigError",
    "context_for",
    "generate_key",
    "key_id",
    "parse_keys",
]

KEY_BYTES = 32
TOKEN_VERSION = 1
_VERSION_BYTE = bytes([TOKEN_VERSION])
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _KEY_ID_BYTES
_MIN_TOKEN_BYTES = _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES

# 32 bytes encode to 43 base64 characters plus one '=' pad; the pad is optional
# so keys survive tools that strip it. Checked before decoding because the
# stdlib decoder silently skips characters outside the alphabet.
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}=?")
_SETTING = "ENCRYPTION_KEYS"
_FORBIDDEN_CONTEXT_CHARS = frozenset(":=|")

DecryptionFailure = Literal["malformed", "unknown_key", "authentication_failed"]


class KeyConfigError(ValueError):
    """Encryption keys are missing or malformed; the message never contains key text."""


class DecryptionError(Exception):
    """A token could not be decrypted; the message says why without revealing data."""

    def __init__(self, message: str, *, reason: DecryptionFailure) -> None:
        """Keep a machine-readable reason next to the human-readable message."""
        super().__init__(message)
        self.reason: DecryptionFailure = reason


def generate_key() -> str:
    """Return a new key: 32 random bytes as URL-safe base64 (Fernet key format)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """Return the public hex id of a key: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES].hex()


def parse_keys(value: str) -> list[bytes]:
    """Parse the ENCRYPTION_KEYS setting into raw keys, newest first."""
    if not value.strip():
        raise KeyConfigError(
            f"{_SETTING} is empty; generate a key with `alliance-checkin generate-key`"
        )
    keys: list[bytes] = []
    for position, item in enumerate(value.split(","), start=1):
        text = item.strip()
        if not text:
            raise KeyConfigError(f"{_SETTING}: key {position} is empty (stray comma?)")
        if not _KEY_PATTERN.fullmatch(text):
            raise KeyConfigError(
                f"{_SETTING}: key {position} is not {KEY_BYTES} bytes of URL-safe base64"
            )
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=")
        # Reject non-canonical spellings so one key cannot appear under two texts.
        if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != text.rstrip("="):
            raise KeyConfigError(
                f"{_SETTING}: key {position} is not {KEY_BYTES} bytes of URL-safe base64"
            )
        if raw in keys:
            first = keys.index(raw) + 1
            raise KeyConfigError(f"{_SETTING}: key {position} is a duplicate of key {first}")
        keys.append(raw)
    return keys


def context_for(table: str, **parts: object) -> str:
    """Build the canonical context string ``table:k1=v1:k2=v2`` with keys sorted."""
    _check_context_part("table name", table)
    fields = [table]
    for name in sorted(parts):
        value = parts[name]
        _check_context_part("context part name", name)
        if value is None:
            # Usually an unflushed row without an id; binding to "None" would be
            # unrecoverable once the row gets its real id.
            raise ValueError(f"context part {name!r} is None; flush the row so it has an id")
        if isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"context part {name!r} must not be bytes")
        _check_context_part(f"context part {name!r}", str(value))
        fields.append(f"{name}={value}")
    return ":".join(fields)


# What each ciphertext is bound to: the one statement per encrypted column. A token
# copied to another row (or column) fails to decrypt rather than show someone else's words.


def answer_text_context(checkin_id: int | None, client_id: int | None, item_id: str) -> str:
    """``answer.text_ciphertext``: a comment is bound to its check-in, its client and its item."""
    return context_for("answer", checkin=checkin_id, client=client_id, item=item_id)


def outbox_payload_context(dedupe_key: str) -> str:
    """``outbox.payload_ciphertext``: a queued message is bound to its row's dedupe key
    (whose ':' and '=' are context separators, so they are written '/' and '~')."""
    return context_for("outbox", key=dedupe_key.replace(":", "/").replace("=", "~"))


def inbox_payload_context(update_id: int) -> str:
    """``update_inbox.payload_ciphertext``: a polled update is bound to its update id."""
    return context_for("update_inbox", update_id=update_id)


def _check_context_part(label: str, text: str) -> None:
    """Reject empty parts and separator characters; never echo the value itself."""
    if not text:
        raise ValueError(f"{label} must not be empty")
    if any(char in _FORBIDDEN_CONTEXT_CHARS for char in text):
        raise ValueError(f"{label} must not contain ':', '=' or '|'")


class Cipher:
    """Encrypts and decrypts free text with AES-256-GCM, bound to a row context."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        """Use ``keys`` newest first: the first encrypts, all of them decrypt."""
        if isinstance(keys, bytes | bytearray):
            # A bare key is a Sequence of ints; catch the easy mistake early.
            raise TypeError("keys must be a sequence of keys, not a single key")
        if not keys:
            raise KeyConfigError("at least one encryption key is required")
        by_id: dict[bytes, AESGCM] = {}
        ids: list[bytes] = []
        for position, key in enumerate(keys, start=1):
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyConfigError(f"encryption key {position} is not {KEY_BYTES} raw bytes")
            kid = hashlib.sha256(key).digest()[:_KEY_ID_BYTES]
            if kid in by_id:
                first = ids.index(kid) + 1
                raise KeyConfigError(f"encryption key {position} is a duplicate of key {first}")
            by_id[kid] = AESGCM(key)
            ids.append(kid)
        self._aead_by_id = by_id
        self._ids = tuple(ids)
        self._current_id = ids[0]

    @classmethod
    def from_setting(cls, value: str) -> Cipher:
        """Build a cipher from the raw ENCRYPTION_KEYS setting."""
        return cls(parse_keys(value))

    def __repr__(self) -> str:
        """Show only public key ids, never key material."""
        return f"Cipher(key_ids={list(self.key_ids)!r})"

    @property
    def current_key_id(self) -> str:
        """Hex id of the newest key, the one new tokens are made with."""
        return self._current_id.hex()

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Hex ids of all configured keys, newest first."""
        return tuple(kid.hex() for kid in self._ids)

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """Encrypt ``plaintext`` with the newest key, bound to ``context``."""
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be str")
        try:
            data = plaintext.encode("utf-8")
        except UnicodeEncodeError:
            # The stdlib message would quote part of the plaintext.
            raise ValueError("plaintext is not valid Unicode (lone surrogate)") from None
        header = _VERSION_BYTE + self._current_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead_by_id[self._current_id].encrypt(
            nonce, data, header + _encode_context(context)
        )
        return header + nonce + sealed

    def decrypt(self, token: bytes, *, context: str) -> str:
        """Decrypt a token made with any configured key for exactly ``context``."""
        return self._open(token, context)[0]

    def key_id_of(self, token: bytes) -> str | None:
        """Return the hex key id a token's header claims (unauthenticated), or None."""
        raw = _as_bytes(token)
        if len(raw) < _MIN_TOKEN_BYTES or raw[:1] != _VERSION_BYTE:
            return None
        return raw[1:_HEADER_BYTES].hex()

    def is_current(self, token: bytes) -> bool:
        """Tell whether a token claims the newest key (header only, not authenticated)."""
        raw = _as_bytes(token)
        return (
            len(raw) >= _MIN_TOKEN_BYTES
            and raw[:1] == _VERSION_BYTE
            and raw[1:_HEADER_BYTES] == self._current_id
        )

    def reencrypt(self, token: bytes, *, context: str) -> bytes:
        """Return the token under the newest key; an already current token comes back as is."""
        # Always authenticate first so rotation never launders a tampered or
        # misplaced token, even one that is already current.
        plaintext, kid = self._open(token, context)
        if kid == self._current_id:
            # Same bytes back: a rotation job can skip the UPDATE when new == old.
            return _as_bytes(token)
        return self.encrypt(plaintext, context=context)

    def _open(self, token: bytes, context: str) -> tuple[str, bytes]:
        """Authenticate and decrypt a token; return the plaintext and its key id."""
        associated = _encode_context(context)
        raw = _as_bytes(token)
        if len(raw) < _MIN_TOKEN_BYTES:
            raise DecryptionError(
                "token is malformed: too short to be an encrypted value", reason="malformed"
            )
        if raw[:1] != _VERSION_BYTE:
            raise DecryptionError("token is malformed: unknown format version", reason="malformed")
        header = raw[:_HEADER_BYTES]
        kid = raw[1:_HEADER_BYTES]
        aead = self._aead_by_id.get(kid)
        if aead is None:
            # No key id in the message: on a corrupted value those bytes could be data.
            raise DecryptionError(
                "token was made with a key that is not configured (dropped too early?)",
                reason="unknown_key",
            )
        nonce = raw[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        try:
            data = aead.decrypt(nonce, raw[_HEADER_BYTES + _NONCE_BYTES :], header + associated)
        except InvalidTag:
            raise DecryptionError(
                "token failed authentication: tampered with, or bound to another context",
                reason="authentication_failed",
            ) from None
        try:
            return data.decode("utf-8"), kid
        except UnicodeDecodeError:
            # Only reachable if something other than this module made the token.
            raise DecryptionError(
                "token is malformed: decrypted value is not UTF-8 text", reason="malformed"
            ) from None


def _encode_context(context: str) -> bytes:
    """Validate and encode a context; an empty one would bind to nothing."""
    if not isinstance(context, str):
        raise TypeError("context must be str")
    if not context:
        raise ValueError("context must not be empty; build it with context_for()")
    try:
        return context.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("context is not valid Unicode (lone surrogate)") from None


def _as_bytes(token: bytes) -> bytes:
    """Accept bytes-like values from database drivers (e.g. memoryview)."""
    if isinstance(token, bytes):
        return token
    if isinstance(token, bytearray | memoryview):
        return bytes(token)
    raise TypeError("token must be bytes")
