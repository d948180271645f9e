"""The advisory lock: a second opener, in this process or another, gets KeystoreLocked."""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from dialtone.keystore import Keystore, KeystoreLocked, ScryptParams, WrongPassphrase

# fork: the child needs no re-import, and nothing in these tests holds a lock while forking.
FORK = multiprocessing.get_context("fork")


def _hold_open(path: str, passphrase: str, ready: Event, release: Event) -> None:
    with Keystore.open(path, passphrase):
        ready.set()
        release.wait(30)


def test_second_process_gets_keystore_locked_until_the_first_closes(
    store_path: Path, passphrase: str, cheap_params: ScryptParams
) -> None:
    Keystore.create(store_path, passphrase, params=cheap_params).close()
    ready, release = FORK.Event(), FORK.Event()
    child = FORK.Process(target=_hold_open, args=(str(store_path), passphrase, ready, release))
    child.start()
    try:
        assert ready.wait(30), "child did not open the keystore"
        before = store_path.read_bytes()
        with pytest.raises(KeystoreLocked, match="in use by another Dialtone client"):
            Keystore.open(store_path, passphrase)
        # create() locks before looking for an existing file, so it reports the lock too.
        with pytest.raises(KeystoreLocked):
            Keystore.create(store_path, passphrase, params=cheap_params)
        assert store_path.read_bytes() == before
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0
    Keystore.open(store_path, passphrase).close()


def test_lock_of_a_killed_process_is_released(
    store_path: Path, passphrase: str, cheap_params: ScryptParams
) -> None:
    Keystore.create(store_path, passphrase, params=cheap_params).close()
    ready, release = FORK.Event(), FORK.Event()
    child = FORK.Process(target=_hold_open, args=(str(store_path), passphrase, ready, release))
    child.start()
    try:
        assert ready.wait(30)
        with pytest.raises(KeystoreLocked):
            Keystore.open(store_path, passphrase)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(30)
    assert child.exitcode == -signal.SIGKILL
    Keystore.open(store_path, passphrase).close()


def test_second_open_in_the_same_process_is_locked_too(
    store_path: Path, passphrase: str, cheap_params: ScryptParams
) -> None:
    store = Keystore.create(store_path, passphrase, params=cheap_params)
    with pytest.raises(KeystoreLocked):
        Keystore.open(store_path, passphrase)
    store.close()
    Keystore.open(store_path, passphrase).close()


def test_failed_open_releases_the_lock(
    store_path: Path, passphrase: str, cheap_params: ScryptParams
) -> None:
    Keystore.create(store_path, passphrase, params=cheap_params).close()
    for _ in range(3):
        with pytest.raises(WrongPassphrase):
            Keystore.open(store_path, "wrong")
    Keystore.open(store_path, passphrase).close()
