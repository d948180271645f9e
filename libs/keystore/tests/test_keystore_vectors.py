"""Test vectors (tests/data/*_v1.json, also printed in docs/protocol-keystore.md).

Each vector is checked three ways: the documented algorithm, written here with bare primitives,
rebuilds the file byte for byte; the library writes the same bytes given the same salt, nonce
and clock; and the library reads the file back to the same contents.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dialtone.keystore import (
    DeviceKeys,
    Keystore,
    ScryptParams,
    Trust,
    read_device_key_export,
    write_device_key_export,
)

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return vector


class Scripted:
    """Injectable randomness handing out fixed byte strings in order."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def __call__(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


def documented_file(vector: dict[str, Any], magic: bytes) -> bytes:
    """The file as docs/protocol-keystore.md describes it, from the vector's inputs."""
    params = vector["params"]
    salt, nonce = bytes.fromhex(vector["salt"]), bytes.fromhex(vector["nonce"])
    password = unicodedata.normalize("NFC", vector["passphrase"]).encode("utf-8")
    master = Scrypt(
        salt=salt, length=32, n=2 ** params["log2_n"], r=params["r"], p=params["p"]
    ).derive(password)
    assert master.hex() == vector["master_key"]
    aead_key = HKDFExpand(hashes.SHA256(), 32, b"dialtone-keystore/v1/aead-key").derive(master)
    key_check = HKDFExpand(hashes.SHA256(), 16, b"dialtone-keystore/v1/key-check").derive(master)
    assert aead_key.hex() == vector["aead_key"]
    assert key_check.hex() == vector["key_check"]
    header = (
        magic
        + bytes([1, 1, 1, params["log2_n"]])
        + struct.pack(">II", params["r"], params["p"])
        + salt
        + nonce
        + key_check
    )
    assert len(header) == 64
    body = header + AESGCM(aead_key).encrypt(nonce, vector["payload"].encode("utf-8"), header)
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize(
    ("name", "magic"), [("keystore_v1.json", b"DTKSTORE"), ("export_v1.json", b"DTKEXPRT")]
)
def test_documented_algorithm_rebuilds_the_vector(name: str, magic: bytes) -> None:
    vector = load(name)
    assert documented_file(vector, magic).hex() == vector["file"]


def test_keystore_payload_matches_the_documented_schema() -> None:
    vector = load("keystore_v1.json")
    payload = json.loads(vector["payload"])
    # Canonical form: sorted keys, no whitespace, non-ASCII kept as UTF-8.
    assert vector["payload"] == json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert sorted(payload) == ["channel_keys", "device", "directory_keys", "pinned_devices"]
    contents = vector["contents"]
    assert [
        (item["server"], item["channel_id"], item["epoch"], base64.b64decode(item["key"]).hex())
        for item in payload["channel_keys"]
    ] == [
        (item["server"], item["channel_id"], item["epoch"], item["key"])
        for item in contents["channel_keys"]
    ]
    assert payload["pinned_devices"][0]["trust"] == "verified"
    assert payload["pinned_devices"][1]["previous_fingerprint"] == base64.b64encode(
        b"\xc0" * 32
    ).decode("ascii")


def _replay_keystore(vector: dict[str, Any], path: Path) -> None:
    contents = vector["contents"]
    now = [0.0]
    store = Keystore.create(
        path,
        vector["passphrase"],
        params=ScryptParams(**vector["params"]),
        clock=lambda: now[0],
        randbytes=Scripted(
            bytes.fromhex(vector["salt"]), b"\x00" * 12, bytes.fromhex(vector["nonce"])
        ),
    )
    device = contents["device"]
    store.set_device_keys(
        DeviceKeys(
            device["device_id"],
            bytes.fromhex(device["x25519_private"]),
            bytes.fromhex(device["ed25519_private"]),
        )
    )
    for item in contents["channel_keys"]:
        store.put_channel_key(
            item["server"], item["channel_id"], item["epoch"], bytes.fromhex(item["key"])
        )
    for item in contents["directory_keys"]:
        store.put_directory_key(item["server"], item["epoch"], bytes.fromhex(item["key"]))
    for op in contents["pin_operations"]:
        now[0] = op["time"]
        store.pin_device(
            op["server"],
            op["user_id"],
            op["device_id"],
            bytes.fromhex(op["fingerprint"]),
            verified=op["verified"],
        )
    store.save()
    store.close()


def test_library_writes_the_keystore_vector_byte_for_byte(tmp_path: Path) -> None:
    vector = load("keystore_v1.json")
    _replay_keystore(vector, tmp_path / "v.dtks")
    assert (tmp_path / "v.dtks").read_bytes().hex() == vector["file"]


def test_library_reads_the_keystore_vector(tmp_path: Path) -> None:
    vector = load("keystore_v1.json")
    path = tmp_path / "v.dtks"
    path.write_bytes(bytes.fromhex(vector["file"]))
    server = "https://chat.example.org"
    with Keystore.open(path, vector["passphrase"]) as store:
        device = store.device_keys
        assert device is not None
        assert device.x25519_private == bytes(range(32))
        assert store.channel_epochs(server, "general") == [0, 1]
        assert store.channel_key(server, "r\u00e9union", 0) == b"\x13" * 32
        assert store.directory_key(server, 0) == b"\x21" * 32
        bob = store.pinned_device(server, "bob", "phone")
        carol = store.pinned_device(server, "carol", "laptop")
    assert bob is not None
    assert (bob.trust, bob.first_seen, bob.verified_at) == (Trust.VERIFIED, 1760000000, 1760000100)
    assert carol is not None
    assert carol.fingerprint == b"\xc1" * 32
    assert carol.previous_fingerprint == b"\xc0" * 32
    assert path.read_bytes().hex() == vector["file"]  # reading does not rewrite


def test_library_writes_and_reads_the_export_vector(tmp_path: Path) -> None:
    vector = load("export_v1.json")
    device = vector["device"]
    keys = DeviceKeys(
        device["device_id"],
        bytes.fromhex(device["x25519_private"]),
        bytes.fromhex(device["ed25519_private"]),
    )
    path = tmp_path / "v.dtkx"
    write_device_key_export(
        path,
        keys,
        vector["passphrase"],
        params=ScryptParams(**vector["params"]),
        randbytes=Scripted(bytes.fromhex(vector["salt"]), bytes.fromhex(vector["nonce"])),
    )
    assert path.read_bytes().hex() == vector["file"]
    assert read_device_key_export(path, vector["passphrase"]) == keys
    # The passphrase is NFC-normalized, so its decomposed spelling opens the export too.
    assert vector["passphrase_nfd"] != vector["passphrase"]
    assert read_device_key_export(path, vector["passphrase_nfd"]) == keys
