"""Format details: scrypt parameter limits, the container layout, and strict payload parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialtone.keystore import (
    DEFAULT_PARAMS,
    Keystore,
    KeystoreCorrupt,
    ScryptParams,
    container,
)
from dialtone.keystore.container import FileKind
from dialtone.keystore.contents import decode_export, decode_keystore

CHEAP = ScryptParams(log2_n=4, r=1, p=1)
EMPTY: dict[str, object] = {
    "device": None,
    "channel_keys": [],
    "directory_keys": [],
    "pinned_devices": [],
}
KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # base64 of 32 x "A"


def test_default_params_are_80_mib_scrypt() -> None:
    assert (DEFAULT_PARAMS.n, DEFAULT_PARAMS.r, DEFAULT_PARAMS.p) == (2**16, 10, 1)
    assert DEFAULT_PARAMS.memory_bytes == 80 * 1024 * 1024


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"log2_n": 0, "r": 8, "p": 1}, ValueError),
        ({"log2_n": 25, "r": 1, "p": 1}, ValueError),
        ({"log2_n": 16, "r": 0, "p": 1}, ValueError),
        ({"log2_n": 16, "r": 8, "p": 0}, ValueError),
        ({"log2_n": 16, "r": 8, "p": 17}, ValueError),
        ({"log2_n": 16, "r": 1, "p": 1}, ValueError),  # RFC 7914: N < 2**(16 r)
        ({"log2_n": 21, "r": 8, "p": 1}, ValueError),  # 2 GiB of memory
        ({"log2_n": 18, "r": 32, "p": 16}, ValueError),  # too much work
        ({"log2_n": 16.0, "r": 8, "p": 1}, TypeError),
        ({"log2_n": 16, "r": True, "p": 1}, TypeError),
    ],
)
def test_scrypt_params_are_bounded(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ScryptParams(**kwargs)  # type: ignore[arg-type]


def test_header_is_64_bytes_and_laid_out_as_documented() -> None:
    keys = container.derive_keys("pw", b"S" * 16, CHEAP)
    data = container.seal(
        FileKind.KEYSTORE, b"{}", keys, salt=b"S" * 16, params=CHEAP, nonce=b"N" * 12
    )
    assert container.HEADER_SIZE == 64
    assert len(data) == 64 + 2 + 16 + 32
    assert data[:8] == b"DTKSTORE"
    assert data[8:12] == bytes([1, 1, 1, 4])
    assert data[12:20] == (1).to_bytes(4, "big") + (1).to_bytes(4, "big")
    assert data[20:36] == b"S" * 16
    assert data[36:48] == b"N" * 12
    assert data[48:64] == keys.key_check


def test_nonce_and_salt_lengths_are_enforced() -> None:
    keys = container.derive_keys("pw", b"S" * 16, CHEAP)
    with pytest.raises(ValueError, match="nonce"):
        container.seal(FileKind.KEYSTORE, b"{}", keys, salt=b"S" * 16, params=CHEAP, nonce=b"N")
    with pytest.raises(ValueError, match="salt"):
        container.derive_keys("pw", b"short", CHEAP)


def test_a_valid_file_with_a_bad_payload_is_corrupt(tmp_path: Path) -> None:
    """Even an authenticated payload is parsed strictly and never half-read."""
    keys = container.derive_keys("pw", b"S" * 16, CHEAP)
    data = container.seal(
        FileKind.KEYSTORE, b'{"device": null}', keys, salt=b"S" * 16, params=CHEAP, nonce=b"N" * 12
    )
    path = tmp_path / "s.dtks"
    path.write_bytes(data)
    with pytest.raises(KeystoreCorrupt, match="payload is invalid"):
        Keystore.open(path, "pw")
    assert path.read_bytes() == data


def _with(**changes: object) -> bytes:
    return json.dumps({**EMPTY, **changes}).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b"{",
        json.dumps({**EMPTY, "extra": 1}).encode(),
        b'{"device": null, "device": null, "channel_keys": [], "directory_keys": [],'
        b' "pinned_devices": []}',
        _with(channel_keys={}),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": 0}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": 0, "key": "!!"}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": 0, "key": "QUFB"}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": -1, "key": KEY}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": 1.5, "key": KEY}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": True, "key": KEY}]),
        _with(channel_keys=[{"server": "", "channel_id": "c", "epoch": 0, "key": KEY}]),
        _with(channel_keys=[{"server": "s", "channel_id": "c", "epoch": 0, "key": KEY}] * 2),
        _with(directory_keys=[{"server": "s", "epoch": 0, "key": KEY}] * 2),
        _with(directory_keys=[{"server": "s", "epoch": 0, "key": KEY, "x": 1}]),
        _with(device={"device_id": "d", "x25519_private": KEY}),
        _with(device={"device_id": 5, "x25519_private": KEY, "ed25519_private": KEY}),
        _with(
            pinned_devices=[
                {
                    "server": "s",
                    "user_id": "u",
                    "device_id": "d",
                    "fingerprint": "Zg==",
                    "trust": "trusted-by-magic",
                    "first_seen": 0,
                    "verified_at": None,
                    "previous_fingerprint": None,
                }
            ]
        ),
        _with(
            pinned_devices=[
                {
                    "server": "s",
                    "user_id": "u",
                    "device_id": "d",
                    "fingerprint": "Zg==",
                    "trust": "first-seen",
                    "first_seen": 0,
                    "verified_at": 5,  # only a verified pin has a verification time
                    "previous_fingerprint": None,
                }
            ]
        ),
        b'{"device": NaN, "channel_keys": [], "directory_keys": [], "pinned_devices": []}',
    ],
)
def test_payload_schema_violations_are_corrupt(payload: bytes) -> None:
    with pytest.raises(KeystoreCorrupt):
        decode_keystore(payload)


def test_the_empty_payload_document_is_valid() -> None:
    contents = decode_keystore(json.dumps(EMPTY).encode())
    assert contents.device is None
    assert contents.channel_keys == {}


@pytest.mark.parametrize("payload", [b"{}", b'{"device": null}', json.dumps(EMPTY).encode()])
def test_export_payload_must_hold_exactly_a_device(payload: bytes) -> None:
    with pytest.raises(KeystoreCorrupt):
        decode_export(payload)
