"""Dialtone's encrypted local keystore (scrypt + AES-256-GCM).

The client keeps its secret material here: the device's private keys, channel keys by server,
channel and epoch, directory keys by server and epoch, and the pinned fingerprints of other users'
devices. The store holds bytes and strings only; it does not depend on dialtone.crypto.

Example::

    from dialtone.keystore import Keystore, profile_path

    path = profile_path("https://chat.example.org", "alice")
    with Keystore.create(path, "correct horse battery staple") as store:
        store.put_channel_key("https://chat.example.org", "c-1", 0, channel_key)
"""

from dialtone.keystore.container import FileKind
from dialtone.keystore.errors import (
    DeviceKeysConflict,
    DeviceKeysMissing,
    KeyConflict,
    KeystoreClosed,
    KeystoreCorrupt,
    KeystoreError,
    KeystoreExists,
    KeystoreLocked,
    KeystoreNotFound,
    UnsupportedFormat,
    WrongPassphrase,
)
from dialtone.keystore.export import read_device_key_export, write_device_key_export
from dialtone.keystore.params import DEFAULT_PARAMS, ScryptParams
from dialtone.keystore.paths import (
    data_home,
    normalize_server_url,
    profile_filename,
    profile_path,
    profiles_dir,
)
from dialtone.keystore.records import KEY_SIZE, DeviceKeys, PinnedDevice, Trust
from dialtone.keystore.store import Keystore

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PARAMS",
    "KEY_SIZE",
    "DeviceKeys",
    "DeviceKeysConflict",
    "DeviceKeysMissing",
    "FileKind",
    "KeyConflict",
    "Keystore",
    "KeystoreClosed",
    "KeystoreCorrupt",
    "KeystoreError",
    "KeystoreExists",
    "KeystoreLocked",
    "KeystoreNotFound",
    "PinnedDevice",
    "ScryptParams",
    "Trust",
    "UnsupportedFormat",
    "WrongPassphrase",
    "__version__",
    "data_home",
    "normalize_server_url",
    "profile_filename",
    "profile_path",
    "profiles_dir",
    "read_device_key_export",
    "write_device_key_export",
]
