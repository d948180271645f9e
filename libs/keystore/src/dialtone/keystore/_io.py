"""Reading a sealed file from disk with the limits and errors every reader shares."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from dialtone.keystore.container import MAX_FILE_SIZE, FileKind
from dialtone.keystore.errors import KeystoreCorrupt, KeystoreNotFound


def read_sealed(path: Path, kind: FileKind) -> bytes:
    """Read a whole keystore or export file, refusing oversized files unread.

    Raises:
        KeystoreNotFound: no such file.
        KeystoreCorrupt: the file is larger than MAX_FILE_SIZE or not a regular file.
        OSError: the file cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeystoreNotFound(errno.ENOENT, f"no {kind.label} file", str(path)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeystoreCorrupt(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_SIZE:
            raise KeystoreCorrupt(f"{path} is too large to be a {kind.label}")
        # Read one byte past the limit so that a file that grew after fstat is still refused.
        chunks: list[bytes] = []
        remaining = MAX_FILE_SIZE + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_SIZE:
        raise KeystoreCorrupt(f"{path} is too large to be a {kind.label}")
    return data
