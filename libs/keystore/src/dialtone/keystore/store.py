"""The keystore: an encrypted, locked, crash-safe file of a client's secret material."""

from __future__ import annotations

import dataclasses
import errno
import hmac
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from dialtone.keystore import container
from dialtone.keystore._fsutil import (
    acquire_lock,
    atomic_write,
    ensure_private_dir,
    remove_stale_temps,
)
from dialtone.keystore._io import read_sealed
from dialtone.keystore.container import FileKind, Header, SecretKeys
from dialtone.keystore.contents import Contents, decode_keystore, encode_keystore
from dialtone.keystore.errors import (
    DeviceKeysConflict,
    DeviceKeysMissing,
    KeyConflict,
    KeystoreClosed,
    KeystoreExists,
    KeystoreNotFound,
)
from dialtone.keystore.export import (
    check_new_passphrase,
    read_device_key_export,
    write_device_key_export,
)
from dialtone.keystore.params import DEFAULT_PARAMS, ScryptParams
from dialtone.keystore.records import (
    DeviceKeys,
    PinnedDevice,
    Trust,
    check_fingerprint,
    check_id,
    check_integer,
    check_key,
)

Clock = Callable[[], float]
RandomBytes = Callable[[int], bytes]
PathArg = str | os.PathLike[str]


def _same_device(a: DeviceKeys, b: DeviceKeys) -> bool:
    # Constant-time on the private keys: equality of secrets should not leak through timing.
    return (
        a.device_id == b.device_id
        and hmac.compare_digest(a.x25519_private, b.x25519_private)
        and hmac.compare_digest(a.ed25519_private, b.ed25519_private)
    )


class Keystore:
    """An unlocked keystore, holding the file's lock until closed.

    Get one from :meth:`create` or :meth:`open`, preferably as a context manager::

        with Keystore.open(path, passphrase) as store:
            store.put_channel_key(server, channel_id, epoch, key)
        # saved on a clean exit; on an exception, unsaved changes are discarded

    Changes are made in memory and written by :meth:`save` (or :meth:`close`, or a clean
    ``with`` exit). Every write is atomic: a crash at any moment leaves the previous or the new
    file, never a mix. Methods may be called from several threads; each call is atomic.
    """

    def __init__(
        self,
        *,
        path: Path,
        lock_fd: int,
        header: Header,
        keys: SecretKeys,
        contents: Contents,
        clock: Clock,
        randbytes: RandomBytes,
    ) -> None:
        """Wrap an already unlocked file; use :meth:`create` or :meth:`open` instead."""
        self._path = path
        self._header = header
        self._keys = keys
        self._contents = contents
        self._clock = clock
        self._randbytes = randbytes
        self._dirty = False
        self._closed = False
        # Many threads may share the store (the client decrypts history in workers).
        self._mutex = threading.RLock()
        # Releases the lock even if the caller forgets close(); the kernel would at exit anyway.
        self._release_lock = weakref.finalize(self, os.close, lock_fd)

    # --- life cycle -----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: PathArg,
        passphrase: str,
        *,
        params: ScryptParams = DEFAULT_PARAMS,
        device_keys: DeviceKeys | None = None,
        clock: Clock = time.time,
        randbytes: RandomBytes = os.urandom,
    ) -> Self:
        """Create a new keystore file and return it unlocked and locked.

        Missing parent directories are created with mode 0700; the file gets mode 0600.

        Args:
            path: where to create it (see :func:`dialtone.keystore.profile_path`).
            passphrase: the passphrase protecting it (non-empty).
            params: scrypt parameters; the default takes 0.2-0.5 s to unlock, pass cheaper
                ones only in tests.
            device_keys: the device's keys, if already generated.
            clock: returns the current Unix time (pins record when devices were first seen).
            randbytes: returns n random bytes (salt and nonces).

        Returns:
            The open keystore.

        Raises:
            KeystoreExists: a file already exists at ``path``.
            KeystoreLocked: another process holds the lock for ``path``.
            TypeError: wrong argument types.
            ValueError: empty passphrase.
            OSError: the file or directory cannot be written.
        """
        path = Path(path)
        check_new_passphrase(passphrase)
        if not isinstance(params, ScryptParams):
            raise TypeError("params must be ScryptParams")
        if device_keys is not None and not isinstance(device_keys, DeviceKeys):
            raise TypeError("device_keys must be DeviceKeys or None")
        ensure_private_dir(path.parent)
        lock_fd = acquire_lock(path)
        try:
            if os.path.lexists(path):
                raise KeystoreExists(errno.EEXIST, "a keystore already exists", str(path))
            remove_stale_temps(path)
            salt = randbytes(container.SALT_SIZE)
            keys = container.derive_keys(passphrase, salt, params)
            contents = Contents(device=device_keys)
            header = _write(path, contents, keys, salt, params, randbytes, overwrite=False)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(
            path=path,
            lock_fd=lock_fd,
            header=header,
            keys=keys,
            contents=contents,
            clock=clock,
            randbytes=randbytes,
        )

    @classmethod
    def open(
        cls,
        path: PathArg,
        passphrase: str,
        *,
        clock: Clock = time.time,
        randbytes: RandomBytes = os.urandom,
    ) -> Self:
        """Lock, unlock and read an existing keystore.

        A damaged or unreadable file is never modified; temporary files left next to it by a
        writer that was killed are removed.

        Args:
            path: the keystore file.
            passphrase: its passphrase.
            clock: returns the current Unix time.
            randbytes: returns n random bytes (nonces for later saves).

        Returns:
            The open keystore.

        Raises:
            KeystoreNotFound: no file at ``path``.
            KeystoreLocked: another process (or handle) has it open.
            WrongPassphrase: the passphrase does not unlock it.
            KeystoreCorrupt: the file is damaged, truncated, modified or not a keystore.
            UnsupportedFormat: an intact file of an unknown format version.
            TypeError: the passphrase is not a str.
        """
        path = Path(path)
        if not isinstance(passphrase, str):
            raise TypeError(f"passphrase must be a str, not {type(passphrase).__name__}")
        # Checked before locking so that a mistyped path does not leave a stray lock file.
        if not os.path.lexists(path):
            raise KeystoreNotFound(errno.ENOENT, "no keystore file", str(path))
        lock_fd = acquire_lock(path)
        try:
            remove_stale_temps(path)
            data = read_sealed(path, FileKind.KEYSTORE)
            payload, header, keys = container.unseal(data, FileKind.KEYSTORE, passphrase)
            contents = decode_keystore(payload)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(
            path=path,
            lock_fd=lock_fd,
            header=header,
            keys=keys,
            contents=contents,
            clock=clock,
            randbytes=randbytes,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._release()

    def close(self) -> None:
        """Save unsaved changes and release the lock. Closing twice is harmless.

        Raises:
            OSError: the final save failed (the lock is released anyway).
        """
        with self._mutex:
            if self._closed:
                return
            try:
                if self._dirty:
                    self.save()
            finally:
                self._release()

    def _release(self) -> None:
        with self._mutex:
            self._closed = True
            self._contents = Contents()
            self._release_lock()

    def save(self) -> None:
        """Write the current contents to disk atomically (fresh nonce, same passphrase).

        Raises:
            KeystoreClosed: the keystore was closed.
            OSError: the write failed; the file on disk is unchanged.
        """
        with self._mutex:
            self._check_open()
            self._header = _write(
                self._path,
                self._contents,
                self._keys,
                self._header.salt,
                self._header.params,
                self._randbytes,
                overwrite=True,
            )
            self._dirty = False

    def change_passphrase(self, old: str, new: str, *, params: ScryptParams | None = None) -> None:
        """Re-encrypt the keystore under a new passphrase (new salt) and save it.

        The current contents, including unsaved changes, are written.

        Args:
            old: the current passphrase, asked again so that an unattended unlocked client
                cannot be re-keyed by someone else.
            new: the new passphrase (non-empty).
            params: new scrypt parameters (default: keep the current ones).

        Raises:
            WrongPassphrase: ``old`` is not the current passphrase.
            KeystoreClosed: the keystore was closed.
            TypeError: wrong argument types.
            ValueError: empty new passphrase.
            OSError: the write failed; the file and the old passphrase stay valid.
        """
        check_new_passphrase(new)
        if params is not None and not isinstance(params, ScryptParams):
            raise TypeError("params must be ScryptParams or None")
        with self._mutex:
            self._check_open()
            container.check_passphrase(self._header, old)
            params = self._header.params if params is None else params
            salt = self._randbytes(container.SALT_SIZE)
            keys = container.derive_keys(new, salt, params)
            self._header = _write(
                self._path, self._contents, keys, salt, params, self._randbytes, overwrite=True
            )
            self._keys = keys
            self._dirty = False

    # --- properties -----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The keystore file."""
        return self._path

    @property
    def params(self) -> ScryptParams:
        """The scrypt parameters the file is currently sealed with."""
        return self._header.params

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def dirty(self) -> bool:
        """Whether there are changes not yet saved."""
        return self._dirty

    def _check_open(self) -> None:
        if self._closed:
            raise KeystoreClosed(f"keystore {self._path} is closed")

    def _now(self) -> int:
        return check_integer(int(self._clock()), "clock time")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Keystore {str(self._path)!r} {state}>"

    # --- device keys ----------------------------------------------------------------------------

    @property
    def device_keys(self) -> DeviceKeys | None:
        """This device's keys, or None before they are generated.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return self._contents.device

    def set_device_keys(self, keys: DeviceKeys, *, replace: bool = False) -> None:
        """Store this device's keys.

        Args:
            keys: the device keys.
            replace: overwrite different keys already stored.

        Raises:
            DeviceKeysConflict: different keys are stored and ``replace`` is false.
            KeystoreClosed: the keystore was closed.
            TypeError: ``keys`` is not DeviceKeys.
        """
        if not isinstance(keys, DeviceKeys):
            raise TypeError("keys must be DeviceKeys")
        with self._mutex:
            self._check_open()
            current = self._contents.device
            if current is not None and _same_device(current, keys):
                return
            if current is not None and not replace:
                raise DeviceKeysConflict(
                    f"the keystore already holds keys for device {current.device_id!r}"
                )
            self._contents.device = keys
            self._dirty = True

    def export_device_keys(
        self,
        path: PathArg,
        passphrase: str,
        *,
        params: ScryptParams = DEFAULT_PARAMS,
        overwrite: bool = False,
    ) -> None:
        """Write this device's keys to a backup file sealed under its own passphrase.

        Args:
            path: the export file (mode 0600); its directory must exist.
            passphrase: the export's passphrase (non-empty, independent of the keystore's).
            params: scrypt parameters for the export.
            overwrite: replace an existing file.

        Raises:
            DeviceKeysMissing: there are no device keys to export.
            KeystoreExists: the file exists and ``overwrite`` is false.
            KeystoreClosed: the keystore was closed.
            TypeError: wrong argument types.
            ValueError: empty passphrase.
            OSError: the file cannot be written.
        """
        with self._mutex:
            self._check_open()
            device = self._contents.device
        if device is None:
            raise DeviceKeysMissing("this keystore has no device keys to export")
        write_device_key_export(
            path,
            device,
            passphrase,
            params=params,
            overwrite=overwrite,
            randbytes=self._randbytes,
        )

    def import_device_keys(
        self, path: PathArg, passphrase: str, *, replace: bool = False
    ) -> DeviceKeys:
        """Read device keys from an export file and store them (call :meth:`save` after).

        Args:
            path: the export file.
            passphrase: the export's passphrase.
            replace: overwrite different device keys already stored.

        Returns:
            The imported keys.

        Raises:
            KeystoreNotFound: no such export file.
            WrongPassphrase: the passphrase does not unlock the export.
            KeystoreCorrupt: the export is damaged or not an export.
            UnsupportedFormat: an export of an unknown format version.
            DeviceKeysConflict: different keys are stored and ``replace`` is false.
            KeystoreClosed: the keystore was closed.
        """
        self._check_open()
        keys = read_device_key_export(path, passphrase)
        self.set_device_keys(keys, replace=replace)
        return keys

    # --- channel and directory keys -------------------------------------------------------------

    def put_channel_key(self, server: str, channel_id: str, epoch: int, key: bytes) -> bool:
        """Store the 32-byte key of a channel at an epoch.

        Args:
            server: the server the channel lives on.
            channel_id: the channel id.
            epoch: the key epoch (0..2**53-1).
            key: the 32-byte channel key.

        Returns:
            True if the key was new, False if the same key was already stored.

        Raises:
            KeyConflict: a different key is stored for this channel and epoch.
            KeystoreClosed: the keystore was closed.
            TypeError: wrong argument types.
            ValueError: empty id, epoch out of range, or key not 32 bytes.
        """
        channel = (check_id(server, "server"), check_id(channel_id, "channel_id"))
        check_integer(epoch, "epoch")
        check_key(key, "channel key")
        with self._mutex:
            self._check_open()
            by_epoch = self._contents.channel_keys.setdefault(channel, {})
            if _store_epoch_key(by_epoch, epoch, key, f"channel {channel_id!r} on {server!r}"):
                self._dirty = True
                return True
            return False

    def channel_key(self, server: str, channel_id: str, epoch: int) -> bytes | None:
        """The key of a channel at an epoch, or None if it is not stored.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return self._contents.channel_keys.get((server, channel_id), {}).get(epoch)

    def latest_channel_epoch(self, server: str, channel_id: str) -> int | None:
        """The highest epoch with a stored key for a channel, or None if there is none.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            by_epoch = self._contents.channel_keys.get((server, channel_id))
            return max(by_epoch) if by_epoch else None

    def channel_epochs(self, server: str, channel_id: str) -> list[int]:
        """All epochs with a stored key for a channel, ascending.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return sorted(self._contents.channel_keys.get((server, channel_id), {}))

    def forget_channel(self, server: str, channel_id: str) -> int:
        """Delete every key of a channel (for a deleted channel or one the user left).

        Returns:
            How many keys were deleted.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            removed = self._contents.channel_keys.pop((server, channel_id), {})
            if removed:
                self._dirty = True
            return len(removed)

    def put_directory_key(self, server: str, epoch: int, key: bytes) -> bool:
        """Store the 32-byte directory key of a server at an epoch.

        Returns:
            True if the key was new, False if the same key was already stored.

        Raises:
            KeyConflict: a different key is stored for this server and epoch.
            KeystoreClosed: the keystore was closed.
            TypeError: wrong argument types.
            ValueError: empty server, epoch out of range, or key not 32 bytes.
        """
        check_id(server, "server")
        check_integer(epoch, "epoch")
        check_key(key, "directory key")
        with self._mutex:
            self._check_open()
            by_epoch = self._contents.directory_keys.setdefault(server, {})
            if _store_epoch_key(by_epoch, epoch, key, f"the directory of {server!r}"):
                self._dirty = True
                return True
            return False

    def directory_key(self, server: str, epoch: int) -> bytes | None:
        """The directory key of a server at an epoch, or None.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return self._contents.directory_keys.get(server, {}).get(epoch)

    def latest_directory_epoch(self, server: str) -> int | None:
        """The highest epoch with a stored directory key for a server, or None.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            by_epoch = self._contents.directory_keys.get(server)
            return max(by_epoch) if by_epoch else None

    # --- pinned devices -------------------------------------------------------------------------

    def pin_device(
        self,
        server: str,
        user_id: str,
        device_id: str,
        fingerprint: bytes,
        *,
        verified: bool = False,
    ) -> bool:
        """Pin the fingerprint of another user's device (trust on first use), or verify it.

        - First sighting: the fingerprint is pinned as first-seen (or verified if ``verified``).
        - Same fingerprint again: nothing changes, except that ``verified=True`` upgrades a
          first-seen pin to verified. A verified pin is never downgraded.
        - A different fingerprint: the device's keys changed. The new fingerprint replaces the
          old one, trust restarts (first-seen unless ``verified``), ``first_seen`` is now, the old
          fingerprint is kept in ``previous_fingerprint``, and True is returned so that the
          client warns the user loudly.

        Args:
            server: the server the user belongs to.
            user_id: the device owner's user id.
            device_id: the device id.
            fingerprint: the device's fingerprint (compared byte for byte).
            verified: the user verified this fingerprint out of band.

        Returns:
            True if a different fingerprint was pinned for this device before.

        Raises:
            KeystoreClosed: the keystore was closed.
            TypeError: wrong argument types.
            ValueError: empty ids or fingerprint.
        """
        slot = (
            check_id(server, "server"),
            check_id(user_id, "user_id"),
            check_id(device_id, "device_id"),
        )
        check_fingerprint(fingerprint)
        if not isinstance(verified, bool):
            raise TypeError("verified must be a bool")
        with self._mutex:
            self._check_open()
            now = self._now()
            old = self._contents.pinned.get(slot)
            if old is not None and old.fingerprint == fingerprint:
                if old.verified or not verified:
                    return False
                pin = dataclasses.replace(old, trust=Trust.VERIFIED, verified_at=now)
            else:
                pin = PinnedDevice(
                    server=server,
                    user_id=user_id,
                    device_id=device_id,
                    fingerprint=fingerprint,
                    trust=Trust.VERIFIED if verified else Trust.FIRST_SEEN,
                    first_seen=now,
                    verified_at=now if verified else None,
                    previous_fingerprint=None if old is None else old.fingerprint,
                )
            self._contents.pinned[slot] = pin
            self._dirty = True
            return old is not None and old.fingerprint != fingerprint

    def pinned_device(self, server: str, user_id: str, device_id: str) -> PinnedDevice | None:
        """The pin of one device, or None if it was never seen.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return self._contents.pinned.get((server, user_id, device_id))

    def pinned_devices(self, server: str, user_id: str | None = None) -> list[PinnedDevice]:
        """The pins on a server, of one user or of everyone, sorted by user then device id.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            return [
                pin
                for (pin_server, pin_user, _), pin in sorted(self._contents.pinned.items())
                if pin_server == server and (user_id is None or pin_user == user_id)
            ]

    def unpin_device(self, server: str, user_id: str, device_id: str) -> bool:
        """Forget a device's pin (for a revoked device).

        Returns:
            True if a pin was removed.

        Raises:
            KeystoreClosed: the keystore was closed.
        """
        with self._mutex:
            self._check_open()
            if self._contents.pinned.pop((server, user_id, device_id), None) is None:
                return False
            self._dirty = True
            return True


def _store_epoch_key(by_epoch: dict[int, bytes], epoch: int, key: bytes, what: str) -> bool:
    existing = by_epoch.get(epoch)
    if existing is None:
        by_epoch[epoch] = key
        return True
    if hmac.compare_digest(existing, key):
        return False
    raise KeyConflict(f"a different key is already stored for {what} at epoch {epoch}")


def _write(
    path: Path,
    contents: Contents,
    keys: SecretKeys,
    salt: bytes,
    params: ScryptParams,
    randbytes: RandomBytes,
    *,
    overwrite: bool,
) -> Header:
    """Seal ``contents`` with a fresh nonce, write it atomically, and return the new header."""
    nonce = randbytes(container.NONCE_SIZE)
    data = container.seal(
        FileKind.KEYSTORE, encode_keystore(contents), keys, salt=salt, params=params, nonce=nonce
    )
    atomic_write(path, data, overwrite=overwrite)
    return container.parse_header(data, FileKind.KEYSTORE)
