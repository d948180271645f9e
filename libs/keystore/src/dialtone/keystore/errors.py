"""The exceptions raised by :mod:`dialtone.keystore`, one class per kind of failure.

Every exception derives from :class:`KeystoreError`, so a caller that only wants to report "the
keystore could not be used" catches that one class. Callers that react differently (ask for the
passphrase again, offer to restore a backup, tell the user another client is running) catch the
specific class.
"""

# The names state the failure (WrongPassphrase, KeystoreLocked), as issue 3 asks and as pyca
# names InvalidTag and InvalidSignature; an "Error" suffix would only add noise.
# ruff: noqa: N818

from __future__ import annotations


class KeystoreError(Exception):
    """Base class of every error raised by dialtone.keystore."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not unlock this file (the file itself is intact)."""


class KeystoreCorrupt(KeystoreError):
    """The file is damaged, truncated, not a keystore, or was modified.

    The file is never changed when this is raised, so it can still be inspected or restored.
    """


class UnsupportedFormat(KeystoreError):
    """The file is intact but uses a format version or algorithm this library does not know.

    Typically the file was written by a newer release.
    """


class KeystoreLocked(KeystoreError):
    """Another process (or another open handle in this one) holds the keystore's lock."""


class KeystoreNotFound(KeystoreError, FileNotFoundError):
    """There is no keystore (or export) file at the given path."""


class KeystoreExists(KeystoreError, FileExistsError):
    """A file already exists where a new keystore (or export) was to be created."""


class KeystoreClosed(KeystoreError):
    """The keystore was used after :meth:`Keystore.close`."""


class KeyConflict(KeystoreError):
    """A different key is already stored for this channel (or directory) and epoch.

    A key for an epoch never changes; a second, different key for the same epoch means a bug or a
    hostile sender, so it is refused rather than overwriting the first.
    """


class DeviceKeysMissing(KeystoreError):
    """The operation needs device keys and the keystore has none yet."""


class DeviceKeysConflict(KeystoreError):
    """The keystore already holds different device keys and ``replace`` was not requested."""
