"""Fixtures shared by the keystore tests: cheap scrypt parameters and sample values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dialtone.keystore import DeviceKeys, Keystore, ScryptParams

#: About a millisecond to derive; the default parameters are exercised by their own test and the
#: benchmark, everything else would be needlessly slow with them.
CHEAP = ScryptParams(log2_n=4, r=1, p=1)
PASSPHRASE = "correct horse battery staple"
SERVER = "https://chat.example.org"


@pytest.fixture
def cheap_params() -> ScryptParams:
    return CHEAP


@pytest.fixture
def passphrase() -> str:
    return PASSPHRASE


@pytest.fixture
def server() -> str:
    return SERVER


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "profiles" / "alice.dtks"


@pytest.fixture
def device_keys() -> DeviceKeys:
    return DeviceKeys(
        device_id="device-1",
        x25519_private=bytes(range(32)),
        ed25519_private=bytes(range(32, 64)),
    )


@pytest.fixture
def new_store(store_path: Path) -> Iterator[Callable[..., Keystore]]:
    """Create keystores at ``store_path`` with cheap parameters; closes them after the test."""
    opened: list[Keystore] = []

    def make(**kwargs: object) -> Keystore:
        kwargs.setdefault("params", CHEAP)
        store = Keystore.create(store_path, PASSPHRASE, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        if not store.closed:
            store.close()
