"""Scopes and channel keys."""

from __future__ import annotations

import pytest

from dialtone.crypto import MAX_EPOCH, ChannelKey, Scope, ScopeKind
from dialtone.crypto.testing import ScriptedRandom


def test_scopes_are_values_with_a_wire_encoding() -> None:
    channel = Scope.channel("general")
    assert channel == Scope(ScopeKind.CHANNEL, "general")
    assert hash(channel) == hash(Scope(ScopeKind.CHANNEL, "general"))
    assert channel.encoded == b"\x01\x07general"
    assert Scope.directory("u-1").encoded == b"\x02\x03u-1"
    assert Scope.channel("u-1") != Scope.directory("u-1")
    assert Scope.coerce("general") is Scope.coerce(channel)


def test_scope_json_round_trips_and_is_checked() -> None:
    for scope in (Scope.channel("c-1"), Scope.directory("u-1")):
        assert Scope.from_dict(scope.to_dict()) == scope
    assert Scope.directory("u-1").to_dict() == {"kind": "directory", "id": "u-1"}
    for bad in ({"kind": "group", "id": "x"}, {"kind": "channel"}, {"kind": "channel", "id": ""}):
        with pytest.raises(ValueError, match=r"scope|id"):
            Scope.from_dict(bad)
    with pytest.raises(TypeError):
        Scope.from_dict("general")
    with pytest.raises(TypeError):
        Scope.from_dict({"kind": "channel", "id": 7})


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1, "general"), TypeError),
        ((ScopeKind.CHANNEL, ""), ValueError),
        ((ScopeKind.DIRECTORY, ""), ValueError),
        ((ScopeKind.CHANNEL, "has space"), ValueError),
        ((ScopeKind.CHANNEL, 42), TypeError),
    ],
)
def test_scope_construction_is_checked(args: tuple[object, object], error: type) -> None:
    with pytest.raises(error):
        Scope(*args)  # type: ignore[arg-type]


def test_channel_keys_carry_scope_epoch_and_secret() -> None:
    key = ChannelKey.generate("general", 3, rng=ScriptedRandom([bytes(range(32))]))
    assert (key.scope, key.epoch, key.secret) == (Scope.channel("general"), 3, bytes(range(32)))
    assert key.context_prefix == b"\x01\x07general\x00\x00\x00\x03"
    assert key == ChannelKey(Scope.channel("general"), 3, bytes(range(32)))
    assert key != ChannelKey(Scope.channel("general"), 3, bytes(32))
    assert bytes(range(32)).hex() not in repr(key)
    with pytest.raises(AttributeError):
        key.epoch = 4


def test_next_epoch_makes_a_new_key_for_the_same_scope() -> None:
    key = ChannelKey.generate("general", 3)
    rotated = key.next_epoch()
    assert (rotated.scope, rotated.epoch) == (key.scope, 4)
    assert rotated.secret != key.secret
    with pytest.raises(ValueError, match="epoch"):
        ChannelKey.generate("general", MAX_EPOCH).next_epoch()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("general", -1, bytes(32)), ValueError),
        (("general", 2**32, bytes(32)), ValueError),
        (("general", 1.0, bytes(32)), TypeError),
        (("general", 1, bytes(16)), ValueError),
        (("general", 1, "00" * 32), TypeError),
        ((42, 1, bytes(32)), TypeError),
    ],
)
def test_channel_key_construction_is_checked(args: tuple[object, ...], error: type) -> None:
    with pytest.raises(error):
        ChannelKey(*args)  # type: ignore[arg-type]
