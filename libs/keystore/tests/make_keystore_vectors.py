"""Regenerate the keystore test vectors in tests/data/ (run by hand after a format change).

    .venv/bin/python libs/keystore/tests/make_keystore_vectors.py

The vectors are produced by the library with fixed salt, nonce and clock; test_keystore_vectors.py
checks that the library still reproduces them byte for byte and that the documented algorithm
(docs/protocol-keystore.md), re-implemented with bare primitives, gives the same bytes.
"""

from __future__ import annotations

import json
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dialtone.keystore import DeviceKeys, Keystore, ScryptParams, write_device_key_export
from dialtone.keystore.container import HEADER_SIZE

DATA = Path(__file__).parent / "data"
SERVER = "https://chat.example.org"
PARAMS = {"log2_n": 10, "r": 8, "p": 1}


class Scripted:
    """Injectable randomness that hands out fixed byte strings in order."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def __call__(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


def intermediates(passphrase_nfc: str, salt: bytes) -> dict[str, str]:
    master = Scrypt(
        salt=salt, length=32, n=2 ** PARAMS["log2_n"], r=PARAMS["r"], p=PARAMS["p"]
    ).derive(passphrase_nfc.encode("utf-8"))
    aead = HKDFExpand(hashes.SHA256(), 32, b"dialtone-keystore/v1/aead-key").derive(master)
    check = HKDFExpand(hashes.SHA256(), 16, b"dialtone-keystore/v1/key-check").derive(master)
    return {"master_key": master.hex(), "aead_key": aead.hex(), "key_check": check.hex()}


def keystore_vector(directory: Path) -> dict[str, Any]:
    contents: dict[str, Any] = {
        "device": {
            "device_id": "device-1",
            "x25519_private": bytes(range(32)).hex(),
            "ed25519_private": bytes(range(32, 64)).hex(),
        },
        "channel_keys": [
            {"server": SERVER, "channel_id": "general", "epoch": 0, "key": "11" * 32},
            {"server": SERVER, "channel_id": "general", "epoch": 1, "key": "12" * 32},
            {"server": SERVER, "channel_id": "r\u00e9union", "epoch": 0, "key": "13" * 32},
        ],
        "directory_keys": [{"server": SERVER, "epoch": 0, "key": "21" * 32}],
        "pin_operations": [
            {
                "time": 1760000000,
                "server": SERVER,
                "user_id": "bob",
                "device_id": "phone",
                "fingerprint": "b0" * 32,
                "verified": False,
            },
            {
                "time": 1760000100,
                "server": SERVER,
                "user_id": "bob",
                "device_id": "phone",
                "fingerprint": "b0" * 32,
                "verified": True,
            },
            {
                "time": 1760000200,
                "server": SERVER,
                "user_id": "carol",
                "device_id": "laptop",
                "fingerprint": "c0" * 32,
                "verified": False,
            },
            {
                "time": 1760000300,
                "server": SERVER,
                "user_id": "carol",
                "device_id": "laptop",
                "fingerprint": "c1" * 32,
                "verified": False,
            },
        ],
    }
    passphrase = "correct horse battery staple"
    salt = bytes(range(0x00, 0x10))
    nonce = bytes(range(0xA0, 0xAC))
    clock_now = [0.0]
    path = directory / "vector.dtks"
    store = Keystore.create(
        path,
        passphrase,
        params=ScryptParams(**PARAMS),
        clock=lambda: clock_now[0],
        randbytes=Scripted(salt, b"\x00" * 12, nonce),
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
        clock_now[0] = op["time"]
        store.pin_device(
            op["server"],
            op["user_id"],
            op["device_id"],
            bytes.fromhex(op["fingerprint"]),
            verified=op["verified"],
        )
    store.save()
    store.close()
    data = path.read_bytes()
    keys = intermediates(passphrase, salt)
    payload = AESGCM(bytes.fromhex(keys["aead_key"])).decrypt(
        nonce, data[HEADER_SIZE:-32], data[:HEADER_SIZE]
    )
    return {
        "description": "dialtone keystore file, format version 1 (docs/protocol-keystore.md)",
        "passphrase": passphrase,
        "params": PARAMS,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        **keys,
        "contents": contents,
        "payload": payload.decode("utf-8"),
        "file": data.hex(),
    }


def export_vector(directory: Path) -> dict[str, Any]:
    passphrase_nfc = "\u00dcn\u00efc\u00f6de b\u00e4ckup phrase"
    salt = bytes(range(0x10, 0x20))
    nonce = bytes(range(0xB0, 0xBC))
    device = DeviceKeys("device-1", bytes(range(32)), bytes(range(32, 64)))
    path = directory / "vector.dtkx"
    write_device_key_export(
        path, device, passphrase_nfc, params=ScryptParams(**PARAMS), randbytes=Scripted(salt, nonce)
    )
    data = path.read_bytes()
    keys = intermediates(passphrase_nfc, salt)
    payload = AESGCM(bytes.fromhex(keys["aead_key"])).decrypt(
        nonce, data[HEADER_SIZE:-32], data[:HEADER_SIZE]
    )
    return {
        "description": "dialtone device-key export, format version 1 (docs/protocol-keystore.md)",
        "passphrase": passphrase_nfc,
        "passphrase_nfd": unicodedata.normalize("NFD", passphrase_nfc),
        "params": PARAMS,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        **keys,
        "device": {
            "device_id": device.device_id,
            "x25519_private": device.x25519_private.hex(),
            "ed25519_private": device.ed25519_private.hex(),
        },
        "payload": payload.decode("utf-8"),
        "file": data.hex(),
    }


def main() -> None:
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, vector in (
            ("keystore_v1.json", keystore_vector(Path(tmp))),
            ("export_v1.json", export_vector(Path(tmp))),
        ):
            text = json.dumps(vector, indent=2, ensure_ascii=False) + "\n"
            (DATA / name).write_text(text, encoding="utf-8")
            print(f"wrote {DATA / name}")


if __name__ == "__main__":
    main()
