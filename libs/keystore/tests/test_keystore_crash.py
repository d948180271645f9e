"""Crash safety: a writer killed at any moment leaves the old or the new keystore, never a mix."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import select
import signal
import struct
import time
from pathlib import Path

import pytest

from dialtone.keystore import Keystore, ScryptParams

FORK = multiprocessing.get_context("fork")
SERVER = "https://chat.example.org"
#: Keys of a padding channel: they make each write ~40 KB so that a write takes long enough for
#: random kills to land inside it.
PADDING_KEYS = 400
ROUNDS = 40


def key_for(epoch: int) -> bytes:
    return hashlib.sha256(b"epoch %d" % epoch).digest()


def _writer(path: str, passphrase: str, report_fd: int) -> None:
    """Save forever, adding epoch n+1 each time, and report each epoch once it is on disk."""
    with Keystore.open(path, passphrase) as store:
        epoch = store.latest_channel_epoch(SERVER, "log")
        assert epoch is not None
        while True:
            epoch += 1
            store.put_channel_key(SERVER, "log", epoch, key_for(epoch))
            store.save()
            os.write(report_fd, struct.pack(">Q", epoch))


def _read_reports(fd: int, timeout: float, want: int | None = None) -> list[int]:
    """Read epoch reports until EOF, the timeout, or ``want`` reports."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (want is None or len(data) < 8 * want):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    usable = len(data) - len(data) % 8
    return [value for (value,) in struct.iter_unpack(">Q", data[:usable])]


def temp_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.tmp-*"))


def test_sigkill_during_repeated_saves_never_leaves_a_broken_store(
    store_path: Path, passphrase: str, cheap_params: ScryptParams
) -> None:
    with Keystore.create(store_path, passphrase, params=cheap_params) as store:
        store.put_channel_key(SERVER, "log", 0, key_for(0))
        for epoch in range(PADDING_KEYS):
            store.put_channel_key(SERVER, "padding", epoch, key_for(10**6 + epoch))
    rng = random.Random(1234)
    committed = 0
    killed_mid_write = 0
    for _ in range(ROUNDS):
        read_fd, write_fd = os.pipe()
        child = FORK.Process(target=_writer, args=(str(store_path), passphrase, write_fd))
        child.start()
        os.close(write_fd)
        try:
            # Wait until it is saving in a loop, then kill it at a random moment.
            first = _read_reports(read_fd, timeout=10.0, want=1)
            assert first, "the writer never saved"
            time.sleep(rng.random() * 0.03)
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            reports = _read_reports(read_fd, timeout=1.0)
        finally:
            os.close(read_fd)
            if child.is_alive():
                child.kill()
                child.join(10)
        assert child.exitcode == -signal.SIGKILL
        if temp_files(store_path):
            killed_mid_write += 1
        reported = max(first + reports)

        with Keystore.open(store_path, passphrase) as store:
            latest = store.latest_channel_epoch(SERVER, "log")
            assert latest is not None
            # Every reported save is on disk; at most the one save in flight went further.
            assert reported <= latest <= reported + 1
            assert store.channel_epochs(SERVER, "log") == list(range(latest + 1))
            assert all(store.channel_key(SERVER, "log", e) == key_for(e) for e in (0, latest))
            assert len(store.channel_epochs(SERVER, "padding")) == PADDING_KEYS
        # open() swept what the killed writer left behind.
        assert temp_files(store_path) == []
        assert latest >= committed
        committed = latest
    print(f"rounds={ROUNDS} saves={committed} killed mid-write={killed_mid_write}")
    assert committed > ROUNDS, "the writer hardly ever got to save"
    # If no kill ever landed inside a write the test would prove nothing.
    assert killed_mid_write > 0


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_failure_before_the_rename_keeps_the_old_contents(
    store_path: Path,
    passphrase: str,
    cheap_params: ScryptParams,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    with Keystore.create(store_path, passphrase, params=cheap_params) as store:
        store.put_channel_key(SERVER, "c", 0, key_for(0))
    before = store_path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    store = Keystore.open(store_path, passphrase)
    store.put_channel_key(SERVER, "c", 1, key_for(1))
    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(OSError, match="No space"):
        store.save()
    monkeypatch.undo()
    assert store.dirty
    assert store_path.read_bytes() == before
    assert temp_files(store_path) == []
    store.close()  # retries the save, now that the disk "has room" again
    with Keystore.open(store_path, passphrase) as reopened:
        assert reopened.channel_epochs(SERVER, "c") == [0, 1]


def test_failure_after_the_rename_leaves_the_new_contents(
    store_path: Path,
    passphrase: str,
    cheap_params: ScryptParams,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If only the directory fsync fails, the rename happened: the new file is complete."""
    Keystore.create(store_path, passphrase, params=cheap_params).close()
    real_fsync = os.fsync

    def fsync_files_only(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    store = Keystore.open(store_path, passphrase)
    store.put_channel_key(SERVER, "c", 0, key_for(0))
    monkeypatch.setattr(os, "fsync", fsync_files_only)
    with pytest.raises(OSError, match="Input/output"):
        store.save()
    monkeypatch.undo()
    # Leaving a with block by an exception drops the handle without retrying the save.
    with pytest.raises(RuntimeError), store:
        raise RuntimeError("give up")
    with Keystore.open(store_path, passphrase) as reopened:
        assert reopened.channel_epochs(SERVER, "c") == [0]
    assert temp_files(store_path) == []
