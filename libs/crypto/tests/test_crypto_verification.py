"""Fingerprints and safety numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialtone.crypto import DeviceIdentity, fingerprint, safety_number
from dialtone.crypto.testing import DeterministicRandom
from dialtone.crypto.verification import safety_number_half

DEVICES = [DeviceIdentity.generate(rng=DeterministicRandom(bytes([i]))) for i in range(4)]
A1, A2, B1, B2 = (d.public_bundle for d in DEVICES)


def test_a_safety_number_is_60_digits_in_groups_of_five() -> None:
    number = safety_number("alice", [A1], "bob", [B1])
    groups = number.split(" ")
    assert len(groups) == 12
    assert all(len(g) == 5 and g.isdigit() for g in groups)


@given(st.permutations([A1, A2]), st.permutations([B1, B2]))
def test_safety_numbers_do_not_depend_on_argument_or_device_order(
    alice_devices: list[object], bob_devices: list[object]
) -> None:
    expected = safety_number("alice", [A1, A2], "bob", [B1, B2])
    assert safety_number("alice", alice_devices, "bob", bob_devices) == expected  # type: ignore[arg-type]
    assert safety_number("bob", bob_devices, "alice", alice_devices) == expected  # type: ignore[arg-type]


def test_safety_numbers_change_when_a_key_or_user_changes() -> None:
    base = safety_number("alice", [A1], "bob", [B1])
    assert safety_number("alice", [A1, A2], "bob", [B1]) != base  # a new device
    assert safety_number("alice", [A2], "bob", [B1]) != base  # a substituted key
    assert safety_number("mallory", [A1], "bob", [B1]) != base  # another user id
    assert safety_number("alice", [A1, A1], "bob", [B1]) == base  # duplicates do not count


def test_a_safety_number_is_the_two_sorted_halves() -> None:
    halves = sorted((safety_number_half("alice", [A1]), safety_number_half("bob", [B1])))
    assert safety_number("alice", [A1], "bob", [B1]).replace(" ", "") == "".join(halves)


@pytest.mark.parametrize(
    ("user", "devices", "error"),
    [
        ("", [A1], ValueError),
        ("x" * 256, [A1], ValueError),
        ("alice", [], ValueError),
        (b"alice", [A1], TypeError),
        ("alice", [A1.to_dict()], TypeError),
    ],
    ids=["empty-user", "long-user", "no-devices", "bytes-user", "dict-device"],
)
def test_safety_number_inputs_are_checked(user: object, devices: list[object], error: type) -> None:
    with pytest.raises(error):
        safety_number_half(user, devices)  # type: ignore[arg-type]


def test_fingerprint_needs_a_bundle() -> None:
    assert fingerprint(A1) == A1.fingerprint
    with pytest.raises(TypeError):
        fingerprint(DEVICES[0])  # type: ignore[arg-type]
