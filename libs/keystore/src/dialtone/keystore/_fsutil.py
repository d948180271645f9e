"""File-system helpers: private directories, crash-safe writes and the advisory lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from pathlib import Path

from dialtone.keystore.errors import KeystoreExists, KeystoreLocked

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_INFIX = ".tmp-"


def temp_prefix(path: Path) -> str:
    """The name prefix of the temporary files written next to ``path``."""
    return f".{path.name}{TEMP_INFIX}"


def lock_path(path: Path) -> Path:
    """The lock file that guards ``path``.

    The lock cannot be taken on the keystore file itself: every save replaces that file with a
    new inode, and a lock on the old inode would not stop a second opener of the new one.
    """
    return path.with_name(path.name + ".lock")


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700.

    Existing directories keep their mode: the path may be anywhere the caller chose, and
    tightening, say, a shared parent would break other programs.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for component in reversed(missing):
        try:
            component.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        # mkdir's mode is filtered by the umask; chmod makes it exactly 0700 whatever the umask.
        os.chmod(component, DIR_MODE)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so that a rename or link inside it survives a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The data goes to a temporary file in the same directory (so the rename stays on one file
    system), created 0600, fsynced, then renamed over ``path`` (or hard-linked to it when
    ``overwrite`` is false, which fails atomically if ``path`` exists), and the directory is
    fsynced so the new name itself is durable.

    Args:
        path: the destination.
        data: the complete new contents.
        overwrite: replace an existing file; when false an existing file is an error.

    Raises:
        KeystoreExists: ``overwrite`` is false and ``path`` exists.
        OSError: the write failed; ``path`` is unchanged.
    """
    directory = path.parent
    temp = directory / f"{temp_prefix(path)}{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(temp, flags, FILE_MODE)
        try:
            # The umask can only remove bits from 0600; fchmod states the mode exactly anyway.
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise KeystoreExists(errno.EEXIST, "file already exists", str(path)) from None
        fsync_dir(directory)
    finally:
        # After a replace the temporary name is gone; after a link or a failure it is not.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files a killed writer left next to ``path``.

    Only safe while holding the lock on ``path``: then no live writer owns them.
    """
    prefix = temp_prefix(path)
    for entry in path.parent.glob(f"{prefix}*"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def acquire_lock(path: Path) -> int:
    """Take the exclusive advisory lock guarding ``path`` without waiting.

    Returns:
        The lock file's descriptor; closing it releases the lock.

    Raises:
        KeystoreLocked: another open file description holds the lock.
        OSError: the lock file cannot be opened.
    """
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    try:
        # 0600 whatever the umask; a lock file someone else owns is still usable as a lock.
        with contextlib.suppress(PermissionError):
            os.fchmod(fd, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise KeystoreLocked(
            f"{path} is in use by another Dialtone client (lock held on {lock_path(path)})"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd
