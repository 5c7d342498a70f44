"""Tests for storage.crypto: encryption of free text at rest."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.crypto import (
    Cipher,
    DecryptionError,
    KeyConfigError,
    context_for,
    generate_key,
    key_id,
    parse_keys,
)

CTX = context_for("answer", checkin=12, item="comment", client=7)


def _key() -> bytes:
    """Return a fresh raw 32-byte key."""
    return secrets.token_bytes(32)


@pytest.fixture
def cipher() -> Cipher:
    """A cipher with a single fresh key."""
    return Cipher([_key()])


# --- round trip -----------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "I felt heard today.",
        "😀🙏🏽 family emoji 👨‍👩‍👧‍👦",
        "שלום, הפגישה הייתה טובה",  # RTL Hebrew
        "مرحبا، شكرا لك",  # RTL Arabic
        "mixed \u202e override \u200f marks",
        "line one\nline two\r\n\ttab\x00nul",
        "x" * 100_000,
        "ü" * 100_000,
    ],
    ids=[
        "empty",
        "ascii",
        "emoji",
        "hebrew",
        "arabic",
        "bidi-controls",
        "control",
        "100k",
        "100k-2b",
    ],
)
def test_round_trip(cipher: Cipher, plaintext: str) -> None:
    """Whatever goes in comes back out unchanged."""
    token = cipher.encrypt(plaintext, context=CTX)
    assert isinstance(token, bytes)
    assert cipher.decrypt(token, context=CTX) == plaintext


def test_token_layout(cipher: Cipher) -> None:
    """Token = version byte, 8-byte key id, 12-byte nonce, ciphertext, 16-byte tag."""
    key = _key()
    c = Cipher([key])
    token = c.encrypt("abc", context=CTX)
    assert token[0] == 1
    assert token[1:9] == hashlib.sha256(key).digest()[:8]
    assert len(token) == 1 + 8 + 12 + len(b"abc") + 16


def test_same_plaintext_gives_different_tokens(cipher: Cipher) -> None:
    """Random nonces: equal plaintexts are not recognisable in the database."""
    a = cipher.encrypt("same", context=CTX)
    b = cipher.encrypt("same", context=CTX)
    assert a != b
    assert a[9:21] != b[9:21]


def test_plaintext_marker_absent_from_token(cipher: Cipher) -> None:
    """The plaintext (or its UTF-8/UTF-16 forms) never shows in the stored bytes."""
    marker = "ZEBRA-MARKER-4242"
    token = cipher.encrypt(f"before {marker} after " * 50, context=CTX)
    assert marker.encode("utf-8") not in token
    assert marker.encode("utf-16-le") not in token
    assert marker.encode("ascii") not in base64.b64decode(base64.b64encode(token))
    assert b"ZEBRA" not in token


def test_accepts_bytes_like_tokens_from_drivers(cipher: Cipher) -> None:
    """Database drivers may hand back memoryview or bytearray."""
    token = cipher.encrypt("hello", context=CTX)
    assert cipher.decrypt(memoryview(token), context=CTX) == "hello"  # type: ignore[arg-type]
    assert cipher.decrypt(bytearray(token), context=CTX) == "hello"  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(plaintext=st.text(), context=st.text(min_size=1))
def test_round_trip_property(plaintext: str, context: str) -> None:
    """Any text round-trips under any non-empty context."""
    c = Cipher([bytes(range(32))])
    token = c.encrypt(plaintext, context=context)
    assert c.decrypt(token, context=context) == plaintext
    assert len(token) == 37 + len(plaintext.encode("utf-8"))


# --- tampering and binding -----------------------------------------------------


def test_flipping_any_byte_is_detected(cipher: Cipher) -> None:
    """Every single-byte change anywhere in the token is rejected."""
    token = cipher.encrypt("the therapist did not listen", context=CTX)
    for index in range(len(token)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(token)
            tampered[index] ^= mask
            with pytest.raises(DecryptionError):
                cipher.decrypt(bytes(tampered), context=CTX)


def test_tampering_reasons(cipher: Cipher) -> None:
    """The reason distinguishes version, key id and body tampering."""
    token = cipher.encrypt("secret words", context=CTX)
    cases = {
        0: "malformed",
        3: "unknown_key",
        15: "authentication_failed",
        len(token) - 1: "authentication_failed",
    }
    for index, reason in cases.items():
        tampered = bytearray(token)
        tampered[index] ^= 0x01
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(bytes(tampered), context=CTX)
        assert info.value.reason == reason
        assert "secret" not in str(info.value)


def test_truncated_and_extended_tokens_fail(cipher: Cipher) -> None:
    """Cutting or appending bytes is detected."""
    token = cipher.encrypt("hello", context=CTX)
    for cut in range(len(token)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(token[:cut], context=CTX)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token + b"\x00", context=CTX)


def test_garbage_and_plaintext_in_column_are_malformed(cipher: Cipher) -> None:
    """Non-tokens give a clear error that does not echo their content."""
    for junk in (b"", b"\x01", b"plaintext stored by mistake, far too revealing"):
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(junk, context=CTX)
        assert info.value.reason == "malformed"
        assert "revealing" not in str(info.value)
        assert cipher.key_id_of(junk) is None
        assert not cipher.is_current(junk)


def test_moved_to_another_client_fails(cipher: Cipher) -> None:
    """A token copied to another client's row does not decrypt there."""
    mine = context_for("answer", checkin=12, item="comment", client=7)
    theirs = context_for("answer", checkin=12, item="comment", client=8)
    token = cipher.encrypt("I want to stop therapy", context=mine)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(token, context=theirs)
    assert info.value.reason == "authentication_failed"
    assert "stop therapy" not in str(info.value)


@pytest.mark.parametrize(
    "other",
    [
        context_for("answer", checkin=13, item="comment", client=7),
        context_for("answer", checkin=12, item="note", client=7),
        context_for("message", checkin=12, item="comment", client=7),
        CTX + " ",
    ],
)
def test_other_row_or_table_fails(cipher: Cipher, other: str) -> None:
    """Any change of row, column or table in the context breaks decryption."""
    token = cipher.encrypt("text", context=CTX)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context=other)


def test_empty_context_rejected(cipher: Cipher) -> None:
    """An empty context would bind to nothing, so it is refused."""
    with pytest.raises(ValueError):
        cipher.encrypt("x", context="")
    token = cipher.encrypt("x", context=CTX)
    with pytest.raises(ValueError):
        cipher.decrypt(token, context="")


def test_lone_surrogate_error_does_not_echo_plaintext(cipher: Cipher) -> None:
    """Unencodable text fails without quoting it."""
    with pytest.raises(ValueError) as info:
        cipher.encrypt("private note \ud800", context=CTX)
    assert "private" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- keys, multi-key decrypt and rotation -----------------------------------------


def test_multi_key_decrypt() -> None:
    """Any configured key decrypts; the newest one encrypts."""
    k1, k2, k3 = _key(), _key(), _key()
    token_by = {k: Cipher([k]).encrypt(f"by {i}", context=CTX) for i, k in enumerate((k1, k2, k3))}
    ring = Cipher([k3, k2, k1])
    for i, k in enumerate((k1, k2, k3)):
        assert ring.decrypt(token_by[k], context=CTX) == f"by {i}"
    fresh = ring.encrypt("new", context=CTX)
    assert ring.key_id_of(fresh) == key_id(k3) == ring.current_key_id
    assert ring.key_ids == (key_id(k3), key_id(k2), key_id(k1))


def test_rotation() -> None:
    """Add a new key first, re-encrypt, drop the old key."""
    old, new = _key(), _key()
    before = Cipher([old])
    ctx_a = context_for("message", id=1, client=7)
    ctx_b = context_for("message", id=2, client=7)
    token_a = before.encrypt("first", context=ctx_a)
    token_b = before.encrypt("second", context=ctx_b)

    during = Cipher([new, old])
    assert during.decrypt(token_a, context=ctx_a) == "first"
    assert not during.is_current(token_a)
    assert during.key_id_of(token_a) == key_id(old)

    rotated_a = during.reencrypt(token_a, context=ctx_a)
    assert rotated_a != token_a
    assert during.is_current(rotated_a)
    assert during.key_id_of(rotated_a) == key_id(new)
    assert during.decrypt(rotated_a, context=ctx_a) == "first"
    # Already current: returned unchanged, so the job can skip the write.
    assert during.reencrypt(rotated_a, context=ctx_a) == rotated_a

    after = Cipher([new])
    assert after.decrypt(rotated_a, context=ctx_a) == "first"
    with pytest.raises(DecryptionError) as info:
        after.decrypt(token_b, context=ctx_b)  # never re-encrypted
    assert info.value.reason == "unknown_key"


def test_reencrypt_still_checks_context_and_integrity() -> None:
    """Re-encryption never launders a misplaced or tampered token."""
    old, new = _key(), _key()
    token = Cipher([old]).encrypt("x", context=CTX)
    ring = Cipher([new, old])
    other = context_for("answer", checkin=12, item="comment", client=8)
    with pytest.raises(DecryptionError):
        ring.reencrypt(token, context=other)
    current = ring.encrypt("y", context=CTX)
    with pytest.raises(DecryptionError):
        ring.reencrypt(current, context=other)
    tampered = current[:-1] + bytes([current[-1] ^ 1])
    with pytest.raises(DecryptionError):
        ring.reencrypt(tampered, context=CTX)


def test_cipher_rejects_bad_keys() -> None:
    """Constructor errors are clear and carry no key bytes."""
    short = b"k" * 16
    with pytest.raises(KeyConfigError, match="at least one"):
        Cipher([])
    with pytest.raises(KeyConfigError, match="key 2 is not 32 raw bytes") as info:
        Cipher([_key(), short])
    assert repr(short)[2:-1] not in str(info.value)
    same = _key()
    with pytest.raises(KeyConfigError, match="key 2 is a duplicate of key 1"):
        Cipher([same, same])
    with pytest.raises(TypeError):
        Cipher(_key())  # type: ignore[arg-type]


def test_repr_hides_keys() -> None:
    """repr shows key ids only."""
    key = _key()
    text = repr(Cipher([key]))
    assert key_id(key) in text
    assert key.hex() not in text
    assert base64.urlsafe_b64encode(key).decode() not in text


# --- key parsing ---------------------------------------------------------------


def test_generate_key_parses_to_32_bytes() -> None:
    """generate_key output is a valid ENCRYPTION_KEYS value of 32 bytes."""
    text = generate_key()
    assert len(text) == 44
    (raw,) = parse_keys(text)
    assert len(raw) == 32
    assert base64.urlsafe_b64encode(raw).decode() == text
    assert generate_key() != text
    Fernet(text.encode())  # same format as Fernet keys


def test_parse_keys_accepts_fernet_keys_whitespace_and_order() -> None:
    """Comma separation with surrounding whitespace; order is preserved."""
    a, b = Fernet.generate_key().decode(), generate_key()
    keys = parse_keys(f"  {a} ,\n\t{b}\n")
    assert keys == [base64.urlsafe_b64decode(a), base64.urlsafe_b64decode(b)]
    assert parse_keys(b.rstrip("=")) == [base64.urlsafe_b64decode(b)]
    assert Cipher.from_setting(f"{a},{b}").current_key_id == key_id(keys[0])


def _standard_b64_key() -> str:
    """A key whose base64 needs '+' or '/', written in standard (not URL-safe) form."""
    while True:
        text = base64.b64encode(_key()).decode()
        if "+" in text or "/" in text:
            return text


def _noncanonical_key() -> str:
    """A valid key with nonzero unused low bits in its last character."""
    text = generate_key()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(text[42])
    return text[:42] + alphabet[last ^ 1] + "="


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (lambda: base64.urlsafe_b64encode(secrets.token_bytes(16)).decode(), "key 2 is not 32"),
        (lambda: base64.urlsafe_b64encode(secrets.token_bytes(33)).decode(), "key 2 is not 32"),
        (lambda: generate_key()[:-2] + "!=", "key 2 is not 32"),
        (lambda: generate_key() + "==", "key 2 is not 32"),
        (lambda: generate_key()[:20] + " " + generate_key()[21:], "key 2 is not 32"),
        (_standard_b64_key, "key 2 is not 32 bytes of URL-safe base64"),
        (_noncanonical_key, "key 2 is not 32"),
        (lambda: secrets.token_hex(32), "key 2 is not 32"),
    ],
    ids=[
        "16-bytes",
        "33-bytes",
        "bad-char",
        "extra-pad",
        "inner-space",
        "std-b64",
        "noncanon",
        "hex",
    ],
)
def test_parse_keys_rejects_bad_key_without_echoing_it(
    bad: Callable[[], str], expected: str
) -> None:
    """Malformed keys are named by position only."""
    bad_text = bad()
    with pytest.raises(KeyConfigError) as info:
        parse_keys(f"{generate_key()},{bad_text}")
    message = str(info.value)
    assert message.startswith("ENCRYPTION_KEYS: ")
    assert expected in message
    assert bad_text not in message
    assert bad_text.strip("=")[:8] not in message
    assert bad_text not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_parse_keys_rejects_empty_and_duplicates() -> None:
    """Empty settings, empty entries and duplicates are refused by position."""
    key = generate_key()
    for empty in ("", "   ", "\n"):
        with pytest.raises(KeyConfigError, match="is empty"):
            parse_keys(empty)
    with pytest.raises(KeyConfigError, match="key 2 is empty") as info:
        parse_keys(f"{key},,{generate_key()}")
    assert key not in str(info.value)
    with pytest.raises(KeyConfigError, match="key 2 is empty"):
        parse_keys(f"{key},")
    with pytest.raises(KeyConfigError, match="key 3 is a duplicate of key 1") as info:
        parse_keys(f"{key}, {generate_key()}, {key}")
    assert key not in str(info.value)
    # Padding dropped is still the same key.
    with pytest.raises(KeyConfigError, match="key 2 is a duplicate of key 1"):
        parse_keys(f"{key},{key.rstrip('=')}")


def test_key_config_error_is_value_error() -> None:
    """Settings validation can treat it as an ordinary ValueError."""
    assert issubclass(KeyConfigError, ValueError)


# --- context strings -----------------------------------------------------------------


def test_context_for_is_canonical() -> None:
    """Parts are sorted so every caller builds the same string."""
    a = context_for("answer", checkin=12, item="comment", client=7)
    b = context_for("answer", client=7, item="comment", checkin=12)
    assert a == b == "answer:checkin=12:client=7:item=comment"
    assert context_for("settings") == "settings"


@pytest.mark.parametrize("bad", ["a:b", "a=b", "a|b", ""])
def test_context_for_rejects_separators_and_empty(bad: str) -> None:
    """Separators in table, names or values could make two contexts collide."""
    with pytest.raises(ValueError):
        context_for(bad, client=1)
    with pytest.raises(ValueError):
        context_for("answer", client=bad)
    if bad:
        with pytest.raises(ValueError):
            context_for("answer", **{bad: 1})


def test_context_for_rejects_none_and_bytes() -> None:
    """A None id (unflushed row) or bytes value is a caller bug."""
    with pytest.raises(ValueError, match="client"):
        context_for("answer", client=None)
    with pytest.raises(TypeError):
        context_for("answer", client=b"7")


def test_context_for_error_does_not_echo_value() -> None:
    """Values may be sensitive-ish; errors name the part only."""
    with pytest.raises(ValueError) as info:
        context_for("answer", note="private:words")
    assert "private" not in str(info.value)
    assert "note" in str(info.value)
