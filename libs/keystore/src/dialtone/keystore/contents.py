"""The decrypted payloads: what a keystore and a device-key export contain, and their JSON form.

Writers produce canonical JSON (keys sorted, no spaces, lists sorted) so that the same contents
always give the same bytes; readers accept any JSON that matches the schema but reject unknown or
duplicate fields, wrong types and bad base64, because a payload that authenticated but does not
parse can only come from a bug and must not be silently half-read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dialtone.keystore.errors import KeystoreCorrupt
from dialtone.keystore.records import (
    DeviceKeys,
    PinnedDevice,
    Trust,
    check_id,
    check_integer,
    check_key,
)

#: (server, channel id) -> {epoch: key}
ChannelKeys = dict[tuple[str, str], dict[int, bytes]]
#: server -> {epoch: key}
DirectoryKeys = dict[str, dict[int, bytes]]
#: (server, user id, device id) -> pin
PinnedDevices = dict[tuple[str, str, str], PinnedDevice]

_T = TypeVar("_T")


@dataclass(slots=True)
class Contents:
    """Everything a keystore holds, indexed the way the client looks things up.

    Keys are grouped per channel (and per server for the directory) so that "latest epoch of
    this channel" does not scan every key of every channel. Inner dicts are never left empty.
    """

    device: DeviceKeys | None = None
    channel_keys: ChannelKeys = field(default_factory=dict)
    directory_keys: DirectoryKeys = field(default_factory=dict)
    pinned: PinnedDevices = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _device_json(device: DeviceKeys) -> dict[str, Any]:
    return {
        "device_id": device.device_id,
        "ed25519_private": _b64(device.ed25519_private),
        "x25519_private": _b64(device.x25519_private),
    }


def encode_keystore(contents: Contents) -> bytes:
    """Encode keystore contents as canonical UTF-8 JSON.

    Returns:
        The payload bytes.
    """
    document = {
        "device": None if contents.device is None else _device_json(contents.device),
        "channel_keys": [
            {"server": server, "channel_id": channel_id, "epoch": epoch, "key": _b64(key)}
            for (server, channel_id), by_epoch in sorted(contents.channel_keys.items())
            for epoch, key in sorted(by_epoch.items())
        ],
        "directory_keys": [
            {"server": server, "epoch": epoch, "key": _b64(key)}
            for server, by_epoch in sorted(contents.directory_keys.items())
            for epoch, key in sorted(by_epoch.items())
        ],
        "pinned_devices": [
            {
                "server": pin.server,
                "user_id": pin.user_id,
                "device_id": pin.device_id,
                "fingerprint": _b64(pin.fingerprint),
                "trust": pin.trust.value,
                "first_seen": pin.first_seen,
                "verified_at": pin.verified_at,
                "previous_fingerprint": (
                    None if pin.previous_fingerprint is None else _b64(pin.previous_fingerprint)
                ),
            }
            for _, pin in sorted(contents.pinned.items())
        ],
    }
    return _dumps(document)


def encode_export(device: DeviceKeys) -> bytes:
    """Encode a device-key export payload as canonical UTF-8 JSON.

    Returns:
        The payload bytes.
    """
    return _dumps({"device": _device_json(device)})


# --- decoding --------------------------------------------------------------------------------


class _SchemaError(Exception):
    """Raised inside the decoder; turned into KeystoreCorrupt at the boundary."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _SchemaError(f"duplicate field {key!r}")
        document[key] = value
    return document


def _reject_constant(name: str) -> Any:
    raise _SchemaError(f"{name} is not allowed")


def _object(value: Any, fields: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _SchemaError(f"{where} must be an object")
    if set(value) != fields:
        raise _SchemaError(f"{where} must have exactly the fields {sorted(fields)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _SchemaError(f"{where} must be a list")
    return value


def _bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _SchemaError(f"{where} must be a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _SchemaError(f"{where} is not valid base64") from exc


def _checked(check: Callable[[object, str], _T], value: object, where: str) -> _T:
    try:
        return check(value, where)
    except (TypeError, ValueError) as exc:
        raise _SchemaError(str(exc)) from exc


def _device(value: Any) -> DeviceKeys:
    obj = _object(value, {"device_id", "x25519_private", "ed25519_private"}, "device")
    try:
        return DeviceKeys(
            device_id=obj["device_id"],
            x25519_private=_bytes(obj["x25519_private"], "device.x25519_private"),
            ed25519_private=_bytes(obj["ed25519_private"], "device.ed25519_private"),
        )
    except (TypeError, ValueError) as exc:
        raise _SchemaError(f"device: {exc}") from exc


def _pin(value: Any) -> PinnedDevice:
    fields = {
        "server",
        "user_id",
        "device_id",
        "fingerprint",
        "trust",
        "first_seen",
        "verified_at",
        "previous_fingerprint",
    }
    obj = _object(value, fields, "pinned device")
    previous = obj["previous_fingerprint"]
    try:
        return PinnedDevice(
            server=obj["server"],
            user_id=obj["user_id"],
            device_id=obj["device_id"],
            fingerprint=_bytes(obj["fingerprint"], "fingerprint"),
            trust=Trust(obj["trust"]),
            first_seen=obj["first_seen"],
            verified_at=obj["verified_at"],
            previous_fingerprint=(
                None if previous is None else _bytes(previous, "previous_fingerprint")
            ),
        )
    except (TypeError, ValueError) as exc:
        raise _SchemaError(f"pinned device: {exc}") from exc


def _load(payload: bytes, fields: set[str]) -> dict[str, Any]:
    try:
        document = json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _SchemaError(f"payload is not UTF-8 JSON: {exc}") from exc
    return _object(document, fields, "payload")


def _decode_keystore(payload: bytes) -> Contents:
    document = _load(payload, {"device", "channel_keys", "directory_keys", "pinned_devices"})
    contents = Contents(device=None if document["device"] is None else _device(document["device"]))
    for item in _list(document["channel_keys"], "channel_keys"):
        obj = _object(item, {"server", "channel_id", "epoch", "key"}, "channel key")
        channel = (
            _checked(check_id, obj["server"], "server"),
            _checked(check_id, obj["channel_id"], "channel_id"),
        )
        epoch = _checked(check_integer, obj["epoch"], "epoch")
        by_epoch = contents.channel_keys.setdefault(channel, {})
        if epoch in by_epoch:
            raise _SchemaError(f"duplicate channel key {(*channel, epoch)!r}")
        by_epoch[epoch] = _checked(check_key, _bytes(obj["key"], "key"), "key")
    for item in _list(document["directory_keys"], "directory_keys"):
        obj = _object(item, {"server", "epoch", "key"}, "directory key")
        server = _checked(check_id, obj["server"], "server")
        epoch = _checked(check_integer, obj["epoch"], "epoch")
        by_epoch = contents.directory_keys.setdefault(server, {})
        if epoch in by_epoch:
            raise _SchemaError(f"duplicate directory key {(server, epoch)!r}")
        by_epoch[epoch] = _checked(check_key, _bytes(obj["key"], "key"), "key")
    for item in _list(document["pinned_devices"], "pinned_devices"):
        pin = _pin(item)
        slot = (pin.server, pin.user_id, pin.device_id)
        if slot in contents.pinned:
            raise _SchemaError(f"duplicate pinned device {slot!r}")
        contents.pinned[slot] = pin
    return contents


def decode_keystore(payload: bytes) -> Contents:
    """Decode and validate a keystore payload.

    Returns:
        The contents.

    Raises:
        KeystoreCorrupt: the payload does not match the schema.
    """
    try:
        return _decode_keystore(payload)
    except _SchemaError as exc:
        raise KeystoreCorrupt(f"keystore payload is invalid: {exc}") from exc


def decode_export(payload: bytes) -> DeviceKeys:
    """Decode and validate a device-key export payload.

    Returns:
        The device keys.

    Raises:
        KeystoreCorrupt: the payload does not match the schema.
    """
    try:
        return _device(_load(payload, {"device"})["device"])
    except _SchemaError as exc:
        raise KeystoreCorrupt(f"device-key export payload is invalid: {exc}") from exc
