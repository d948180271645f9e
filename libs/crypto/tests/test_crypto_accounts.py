"""Server-side helpers: usernames, password hashing, tokens."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto.accounts import (
    InvalidPasswordHash,
    InvalidUsername,
    PasswordParams,
    hash_password,
    new_token,
    normalize_username,
    password_needs_rehash,
    token_digest,
    tokens_equal,
    username_hash,
    verify_password,
)

FAST = PasswordParams.TESTING
PEPPER = bytes(range(32))


# --- usernames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("\uff21\uff4c\uff49\uff43\uff45", "alice"),  # fullwidth
        ("Stra\u00dfe", "strasse"),  # German sharp s case-folds to "ss"
        ("bob_42", "bob_42"),
        ("a.b-c_d", "a.b-c_d"),
        ("x\u2460y", "x1y"),  # circled digit one: NFKC maps it to "1"
        ("abc", "abc"),
        ("a" * 32, "a" * 32),
    ],
)
def test_usernames_normalize_by_nfkc_and_casefold(raw: str, normalized: str) -> None:
    assert normalize_username(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ab",
        "a" * 33,
        "a" * 1000,
        "al ice",
        " alice",
        "alice!",
        "_alice",
        "alice-",
        "\u0430lice",  # Cyrillic a: refused, not mapped to Latin
        "caf\u00e9",
        "\u0130stanbul",  # dotted capital I folds to i + combining dot
        "alice\u200b",  # zero-width space
    ],
)
def test_usernames_outside_the_rules_are_refused(raw: str) -> None:
    with pytest.raises(InvalidUsername):
        normalize_username(raw)


def test_invalid_username_is_a_value_error_and_types_are_checked() -> None:
    assert issubclass(InvalidUsername, ValueError)
    with pytest.raises(TypeError):
        normalize_username(b"alice")  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_normalization_is_idempotent(raw: str) -> None:
    try:
        once = normalize_username(raw)
    except InvalidUsername:
        return
    assert normalize_username(once) == once
    assert re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,30}[a-z0-9]", once)


def test_username_hash_is_peppered_hmac_of_the_normalized_name() -> None:
    digest = username_hash(PEPPER, "ALICE")
    assert digest == hmac.new(PEPPER, b"alice", hashlib.sha256).digest()
    assert len(digest) == 32
    assert username_hash(PEPPER, "alice") == digest
    assert username_hash(bytes(32), "alice") != digest


def test_username_hash_checks_its_pepper() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        username_hash(bytes(15), "alice")
    with pytest.raises(TypeError):
        username_hash("pepper" * 4, "alice")  # type: ignore[arg-type]
    with pytest.raises(InvalidUsername):
        username_hash(PEPPER, "no")


# --- passwords ---------------------------------------------------------------------------------


def test_password_hash_is_self_describing_and_verifies() -> None:
    encoded = hash_password("hunter2", params=FAST)
    assert re.fullmatch(r"\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", encoded)
    assert verify_password("hunter2", encoded)
    assert not verify_password("hunter3", encoded)
    assert not verify_password("", encoded)


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same", params=FAST) != hash_password("same", params=FAST)


@given(st.text(max_size=50))
def test_passwords_round_trip(password: str) -> None:
    encoded = hash_password(password, params=FAST)
    assert verify_password(password, encoded)
    assert not verify_password(password + "x", encoded)


def test_passwords_are_compared_after_nfkc() -> None:
    encoded = hash_password("\uff21bc", params=FAST)  # fullwidth A
    assert verify_password("Abc", encoded)


def test_the_default_parameters_are_a_production_setting() -> None:
    default = PasswordParams.DEFAULT
    assert default.n >= 2**17
    assert default.r >= 8
    assert default.p >= 1
    assert 128 * default.r * default.n >= 128 * 2**20  # at least 128 MiB of memory
    encoded = hash_password("correct horse")  # default parameters when none are given
    assert encoded.startswith("$scrypt$ln=17,r=8,p=1$")
    assert verify_password("correct horse", encoded)
    assert not password_needs_rehash(encoded)


def test_needs_rehash_compares_parameters() -> None:
    encoded = hash_password("pw", params=FAST)
    assert password_needs_rehash(encoded)  # against DEFAULT
    assert not password_needs_rehash(encoded, params=FAST)
    assert password_needs_rehash(encoded, params=PasswordParams(log2_n=5, r=8, p=1))


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "hunter2",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=04,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=0,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$",
        "$scrypt$ln=21,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=[
        "empty",
        "plaintext",
        "argon2",
        "no-hash",
        "no-p",
        "leading-zero",
        "ln-zero",
        "ln-too-big",
        "padded-salt",
        "stray-bits",
        "trailing",
        "over-1GiB",
    ],
)
def test_malformed_hashes_raise_a_clear_error(encoded: str) -> None:
    with pytest.raises(InvalidPasswordHash):
        verify_password("pw", encoded)
    with pytest.raises(InvalidPasswordHash):
        password_needs_rehash(encoded)


def test_password_functions_check_types_and_length() -> None:
    encoded = hash_password("pw", params=FAST)
    with pytest.raises(TypeError):
        hash_password(b"pw", params=FAST)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_password(b"pw", encoded)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_password("pw", encoded.encode())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash_password("pw", params=(4, 8, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        hash_password("x" * 4097, params=FAST)
    assert not verify_password("x" * 4097, encoded)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0, 8, 1), ValueError),
        ((25, 8, 1), ValueError),
        ((17, 1, 1), ValueError),  # N must be below 2^(16 r)
        ((4, 0, 1), ValueError),
        ((4, 8, 0), ValueError),
        ((4, 256, 1), ValueError),
        ((24, 8, 1), ValueError),  # 2 GiB
        (("4", 8, 1), TypeError),
        ((4, 8.0, 1), TypeError),
    ],
)
def test_password_params_are_checked(args: tuple[object, object, object], error: type) -> None:
    with pytest.raises(error):
        PasswordParams(*args)  # type: ignore[arg-type]


def test_password_params_are_frozen() -> None:
    with pytest.raises(AttributeError):
        PasswordParams.TESTING.r = 1  # type: ignore[misc]


# --- tokens ------------------------------------------------------------------------------------


def test_new_tokens_are_url_safe_and_random() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)
    assert len(new_token(16)) == 22


def test_new_token_refuses_weak_sizes() -> None:
    with pytest.raises(ValueError, match="16"):
        new_token(15)
    with pytest.raises(TypeError):
        new_token("32")  # type: ignore[arg-type]


def test_token_digest_is_sha256() -> None:
    token = new_token()
    assert token_digest(token) == hashlib.sha256(token.encode()).digest()
    with pytest.raises(TypeError):
        token_digest(token.encode())  # type: ignore[arg-type]


def test_tokens_equal_compares_str_and_bytes() -> None:
    assert tokens_equal("abc", "abc")
    assert tokens_equal("abc", b"abc")
    assert tokens_equal(b"\xff", b"\xff")
    assert tokens_equal("caf\u00e9", "caf\u00e9")
    assert not tokens_equal("abc", "abd")
    assert not tokens_equal("abc", "abcd")
    with pytest.raises(TypeError):
        tokens_equal("abc", 123)  # type: ignore[arg-type]
