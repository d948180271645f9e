"""Hypothesis: whatever a keystore holds comes back identical, through payload and file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialtone.keystore import DeviceKeys, Keystore, PinnedDevice, ScryptParams, Trust
from dialtone.keystore.contents import Contents, decode_keystore, encode_keystore
from dialtone.keystore.records import MAX_INTEGER

CHEAP = ScryptParams(log2_n=4, r=1, p=1)

ids = st.text(min_size=1, max_size=40)
epochs = st.integers(min_value=0, max_value=MAX_INTEGER)
keys = st.binary(min_size=32, max_size=32)
fingerprints = st.binary(min_size=1, max_size=64)
times = st.integers(min_value=0, max_value=MAX_INTEGER)

device_keys = st.builds(DeviceKeys, device_id=ids, x25519_private=keys, ed25519_private=keys)


@st.composite
def pins(draw: st.DrawFn) -> PinnedDevice:
    verified = draw(st.booleans())
    return PinnedDevice(
        server=draw(ids),
        user_id=draw(ids),
        device_id=draw(ids),
        fingerprint=draw(fingerprints),
        trust=Trust.VERIFIED if verified else Trust.FIRST_SEEN,
        first_seen=draw(times),
        verified_at=draw(times) if verified else None,
        previous_fingerprint=draw(st.none() | fingerprints),
    )


@st.composite
def contents(draw: st.DrawFn) -> Contents:
    channel_keys = draw(
        st.dictionaries(
            st.tuples(ids, ids), st.dictionaries(epochs, keys, min_size=1, max_size=4), max_size=5
        )
    )
    directory_keys = draw(
        st.dictionaries(ids, st.dictionaries(epochs, keys, min_size=1, max_size=3), max_size=3)
    )
    pinned = {(p.server, p.user_id, p.device_id): p for p in draw(st.lists(pins(), max_size=6))}
    return Contents(
        device=draw(st.none() | device_keys),
        channel_keys=channel_keys,
        directory_keys=directory_keys,
        pinned=pinned,
    )


# No deadline: the machine is shared, and a slow example is not a failure here.
@settings(deadline=None)
@given(contents())
def test_payload_round_trip(original: Contents) -> None:
    payload = encode_keystore(original)
    assert decode_keystore(payload) == original
    # Canonical: encoding the decoded contents gives the same bytes.
    assert encode_keystore(decode_keystore(payload)) == payload


@settings(max_examples=40, deadline=None)
@given(original=contents(), passphrase=st.text(min_size=1, max_size=30))
def test_file_round_trip_through_the_public_api(original: Contents, passphrase: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.dtks"
        with Keystore.create(path, passphrase, params=CHEAP, device_keys=original.device) as store:
            for (server, channel_id), by_epoch in original.channel_keys.items():
                for epoch, key in by_epoch.items():
                    store.put_channel_key(server, channel_id, epoch, key)
            for server, by_epoch in original.directory_keys.items():
                for epoch, key in by_epoch.items():
                    store.put_directory_key(server, epoch, key)
        with Keystore.open(path, passphrase) as store:
            assert store.device_keys == original.device
            for (server, channel_id), by_epoch in original.channel_keys.items():
                assert store.channel_epochs(server, channel_id) == sorted(by_epoch)
                assert store.latest_channel_epoch(server, channel_id) == max(by_epoch)
                for epoch, key in by_epoch.items():
                    assert store.channel_key(server, channel_id, epoch) == key
            for server, by_epoch in original.directory_keys.items():
                assert store.latest_directory_epoch(server) == max(by_epoch)
                for epoch, key in by_epoch.items():
                    assert store.directory_key(server, epoch) == key


small_ids = st.sampled_from(["a", "b"])
pin_ops = st.lists(
    st.tuples(
        small_ids,  # user id
        small_ids,  # device id
        st.sampled_from([b"fp-1", b"fp-2", b"fp-3"]),
        st.booleans(),  # verified
        st.integers(min_value=0, max_value=10**10),  # clock
    ),
    max_size=25,
)


def model_pin(
    model: dict[tuple[str, str], PinnedDevice],
    user_id: str,
    device_id: str,
    fingerprint: bytes,
    verified: bool,
    now: int,
) -> bool:
    """The pinning rules of Keystore.pin_device's docstring, written independently."""
    old = model.get((user_id, device_id))
    trust = Trust.VERIFIED if verified else Trust.FIRST_SEEN
    if old is None or old.fingerprint != fingerprint:
        model[(user_id, device_id)] = PinnedDevice(
            "s", user_id, device_id, fingerprint, trust, now, now if verified else None,
            None if old is None else old.fingerprint,
        )  # fmt: skip
        return old is not None
    if verified and not old.verified:
        model[(user_id, device_id)] = PinnedDevice(
            "s", user_id, device_id, fingerprint, Trust.VERIFIED, old.first_seen, now,
            old.previous_fingerprint,
        )  # fmt: skip
    return False


@settings(max_examples=60, deadline=None)
@given(ops=pin_ops)
def test_pin_histories_follow_the_rules_and_survive_the_file(
    ops: list[tuple[str, str, bytes, bool, int]],
) -> None:
    model: dict[tuple[str, str], PinnedDevice] = {}
    now = [0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.dtks"
        with Keystore.create(path, "pw", params=CHEAP, clock=lambda: now[0]) as store:
            for user_id, device_id, fingerprint, verified, at in ops:
                now[0] = at
                changed = store.pin_device("s", user_id, device_id, fingerprint, verified=verified)
                assert changed == model_pin(model, user_id, device_id, fingerprint, verified, at)
        with Keystore.open(path, "pw") as reopened:
            assert reopened.pinned_devices("s") == [model[k] for k in sorted(model)]
