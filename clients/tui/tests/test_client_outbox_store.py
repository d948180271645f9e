"""The offline queue on disk: it round-trips, opens only with the device's keys and for its own
server and user, refuses altered files and (with a clear reason) files of the first development
format, and leaves no file when empty."""

from __future__ import annotations

import json
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialtone.client.core import sealing
from dialtone.client.core.outbox_store import (
    OutboxStore,
    SavedMessage,
    UnreadableOutboxError,
    outbox_path,
)
from dialtone.crypto import ChannelKey, DeviceIdentity, Scope, new_message_id, open_local
from dialtone.crypto.primitives import Aead, hkdf_sha256
from dialtone.wire import Codec

SERVER = "http://127.0.0.1:8470"
USER = str(uuid.uuid4())
DEVICE = str(uuid.uuid4())


def store_for(path: Path, identity: DeviceIdentity, **context: str) -> OutboxStore:
    return OutboxStore(
        path,
        identity,
        server=context.get("server", SERVER),
        user_id=context.get("user_id", USER),
        device_id=context.get("device_id", DEVICE),
        codec=Codec(),
    )


def queued(identity: DeviceIdentity, body: str) -> SavedMessage:
    channel_id = str(uuid.uuid4())
    key = ChannelKey.generate(Scope.channel(channel_id), 1)
    frame = sealing.seal_chat(
        identity, key, body=body, sender_name="Alice", client_msg_id=new_message_id()
    )
    return SavedMessage(frame=frame, body=body, sender_name="Alice", created_at=datetime.now(UTC))


@pytest.fixture
def identity() -> DeviceIdentity:
    return DeviceIdentity.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return outbox_path(tmp_path / "profiles" / "alice.dtks")


def test_the_file_sits_beside_the_profile(tmp_path: Path) -> None:
    assert outbox_path(tmp_path / "x.dtks") == tmp_path / "x.dtks.outbox"


def test_a_saved_queue_reads_back_in_order_and_only_its_owner_can_read_it(
    path: Path, identity: DeviceIdentity
) -> None:
    messages = [queued(identity, "first 🐇"), queued(identity, "second\nline")]
    store_for(path, identity).save(messages)
    assert store_for(path, identity).load() == messages
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert b"first" not in raw
    assert b"second" not in raw
    assert messages[0].frame.client_msg_id.encode() not in raw


@pytest.mark.parametrize(
    "other",
    [
        {"device_id": str(uuid.uuid4())},
        {"user_id": str(uuid.uuid4())},
        {"server": "http://127.0.0.1:9999"},
    ],
    ids=["another-device", "another-user", "another-server"],
)
def test_a_queue_does_not_open_for_another_device_user_or_server(
    path: Path, identity: DeviceIdentity, other: dict[str, str]
) -> None:
    store_for(path, identity).save([queued(identity, "mine")])
    with pytest.raises(UnreadableOutboxError, match="does not open"):
        store_for(path, identity, **other).load()


def test_a_queue_does_not_open_with_another_devices_keys(
    path: Path, identity: DeviceIdentity
) -> None:
    store_for(path, identity).save([queued(identity, "mine")])
    with pytest.raises(UnreadableOutboxError, match="does not open"):
        store_for(path, DeviceIdentity.generate()).load()


def test_an_altered_queue_is_refused(path: Path, identity: DeviceIdentity) -> None:
    store_for(path, identity).save([queued(identity, "pay 10 to carol")])
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableOutboxError, match="does not open"):
        store_for(path, identity).load()
    path.write_bytes(b"something else entirely")
    with pytest.raises(UnreadableOutboxError, match="is not a Dialtone offline queue"):
        store_for(path, identity).load()


def test_no_queue_is_an_empty_one_and_saving_an_empty_queue_removes_the_file(
    path: Path, identity: DeviceIdentity
) -> None:
    store = store_for(path, identity)
    assert store.load() == []
    store.save([queued(identity, "soon gone")])
    assert path.exists()
    store.save([])
    assert not path.exists()
    assert store.load() == []
    assert list(path.parent.iterdir()) == []


def test_a_queue_in_the_first_development_format_is_refused_with_a_clear_reason(
    path: Path, identity: DeviceIdentity
) -> None:
    # The layout of that format: its own HKDF info and associated data over AES-256-GCM.
    context = json.dumps([SERVER, USER, DEVICE]).encode()
    key = hkdf_sha256(
        identity.private_bytes(),
        salt=b"",
        info=b"dialtone-client offline queue v1" + context,
        length=32,
    )
    nonce = bytes(12)
    plain = json.dumps({"format": 1, "messages": []}).encode()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"DTOUTBX1" + nonce + Aead(key).encrypt(nonce, plain, b"DTOUTBX1" + context))
    with pytest.raises(UnreadableOutboxError, match="older format, which this version does not"):
        store_for(path, identity).load()


def test_the_queue_is_sealed_with_the_public_local_sealing_api(
    path: Path, identity: DeviceIdentity
) -> None:
    messages = [queued(identity, "sealed at rest")]
    store_for(path, identity).save(messages)
    data = path.read_bytes()
    assert data.startswith(b"DTOUTBX2")
    context = json.dumps([SERVER, USER, DEVICE]).encode()
    document = json.loads(open_local(identity, "dialtone-client/outbox", context, data[8:]))
    assert document["format"] == 1
    assert [record["body"] for record in document["messages"]] == ["sealed at rest"]
