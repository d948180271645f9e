"""No plaintext at rest or in logs: a full flow with distinctive markers, then `pg_dump` and the
server's log (at DEBUG) must contain none of them.

The markers go where a real client puts them: usernames and passwords in plaintext (the server must
keep only their hashes), display names, channel names and message bodies sealed with
`dialtone.crypto` (the server must keep only the ciphertext). Session and invite tokens must not be
stored either (only their digests).
"""

from __future__ import annotations

import secrets
import uuid

import aiohttp

from dialtone.crypto import (
    ChannelKey,
    DeviceIdentity,
    Purpose,
    Scope,
    make_envelope,
    seal_channel_name,
    seal_message,
    seal_profile_name,
)
from dialtone.server.realtime.testing import WsClient
from dialtone.server.testing import (
    ApiClient,
    PostgresCluster,
    StartProcess,
    TestDevice,
    TestUser,
    create_invite,
    device_keys,
)
from dialtone.wire import http, ws


def _marker(kind: str) -> str:
    return f"ZQX{kind}MARK{secrets.token_hex(4)}"


def _envelope(
    sender: DeviceIdentity, recipient: DeviceIdentity, device_id: str, key: ChannelKey
) -> http.EnvelopeUpload:
    envelope = make_envelope(sender, recipient.public_bundle, key)
    raw = envelope.to_bytes()
    return http.EnvelopeUpload(
        recipient_device_id=device_id,
        sealed_key=raw[: -len(envelope.signature)],
        signature=envelope.signature,
    )


def _name(identity: DeviceIdentity, device_id: str, key: ChannelKey, text: str) -> http.ChannelName:
    sealed = seal_channel_name(identity, key, text)
    return http.ChannelName(
        key_epoch=key.epoch,
        device_id=device_id,
        sealed_name=sealed.fields[Purpose.CHANNEL_NAME],
        signature=sealed.signature,
    )


async def _register(api: ApiClient, invite: str, username: str, password: str) -> TestUser:
    identity = DeviceIdentity.generate()
    auth = await api.call(
        "POST",
        "/v1/register",
        http.AuthResponse,
        body=http.RegisterRequest(
            invite_token=invite,
            username=username,
            password=password,
            device=device_keys(identity),
        ),
    )
    device = TestDevice(identity=identity, device_id=auth.device_id, token=auth.token)
    return TestUser(user_id=auth.user_id, username=username, password=password, device=device)


async def test_full_flow_leaves_no_plaintext_in_database_or_logs(
    server_process: StartProcess, pg_cluster: PostgresCluster, db_name: str
) -> None:
    server = await server_process(env={"DIALTONE_LOG_LEVEL": "DEBUG"})
    markers = {
        "alice_username": "zqxalice" + secrets.token_hex(4),
        "bob_username": "zqxbob" + secrets.token_hex(4),
        "alice_password": _marker("PASSWORD"),
        "alice_display": _marker("DISPLAYNAME"),
        "sender_name": _marker("SENDERNAME"),
        "channel_name": _marker("CHANNELNAME"),
        "channel_rename": _marker("RENAMED"),
        "body": _marker("BODY"),
        "body_after_rotation": _marker("ROTATEDBODY"),
    }
    secrets_seen: list[str] = []
    admin = server.env["DIALTONE_ADMIN_TOKEN"]
    async with aiohttp.ClientSession() as session:
        api = ApiClient(session, server.base_url)
        invites = [await create_invite(api, admin) for _ in range(2)]
        alice = await _register(
            api, invites[0], markers["alice_username"], markers["alice_password"]
        )
        bob = await _register(
            api, invites[1], markers["bob_username"], "bob" + secrets.token_hex(8)
        )
        secrets_seen += [*invites, alice.token, bob.token]
        # Log in again with the plaintext username and password; look bob up by username.
        login = await api.call(
            "POST",
            "/v1/login",
            http.AuthResponse,
            body=http.LoginRequest(
                username=alice.username.upper(),
                password=alice.password,
                device_id=alice.device.device_id,
            ),
        )
        secrets_seen.append(login.token)
        found = await api.call(
            "POST",
            "/v1/users/lookup",
            http.UserInfo,
            body=http.UserLookupRequest(username=bob.username),
            token=alice.token,
        )
        assert found.user_id == bob.user_id

        # A directory profile sealed with alice's directory key, shared with bob.
        directory_key = ChannelKey.generate(Scope.directory(alice.user_id), epoch=1)
        profile = seal_profile_name(alice.device.identity, directory_key, markers["alice_display"])
        await api.call(
            "PUT",
            "/v1/directory/profile",
            http.ProfileInfo,
            body=http.ProfileUpdateRequest(
                key_epoch=1,
                sealed_display_name=profile.fields[Purpose.PROFILE_NAME],
                signature=profile.signature,
            ),
            token=alice.token,
        )
        await api.call(
            "POST",
            "/v1/directory/envelopes",
            http.EnvelopePostResponse,
            body=http.EnvelopePostRequest(
                key_epoch=1,
                envelopes=(
                    _envelope(
                        alice.device.identity,
                        bob.device.identity,
                        bob.device.device_id,
                        directory_key,
                    ),
                ),
            ),
            token=alice.token,
        )

        # A channel with a sealed name, bob added with an envelope of the channel key.
        channel_id = str(uuid.uuid4())
        key = ChannelKey.generate(channel_id, epoch=1)
        me = alice.device
        await api.call(
            "POST",
            "/v1/channels",
            http.ChannelInfo,
            body=http.ChannelCreateRequest(
                channel_id=channel_id,
                name=_name(me.identity, me.device_id, key, markers["channel_name"]),
                envelopes=(_envelope(me.identity, me.identity, me.device_id, key),),
            ),
            token=alice.token,
        )
        await api.call(
            "POST",
            f"/v1/channels/{channel_id}/members",
            http.MemberInfo,
            body=http.MemberAddRequest(
                user_id=bob.user_id,
                key_epoch=1,
                envelopes=(_envelope(me.identity, bob.device.identity, bob.device.device_id, key),),
            ),
            token=alice.token,
        )
        await api.call(
            "PATCH",
            f"/v1/channels/{channel_id}",
            http.ChannelInfo,
            body=http.ChannelRenameRequest(
                name=_name(me.identity, me.device_id, key, markers["channel_rename"])
            ),
            token=alice.token,
        )

        # Messages over the WebSocket, sealed and signed by the client.
        sender = await WsClient.connect(api, alice)
        reader = await WsClient.connect(api, bob)
        sealed = seal_message(me.identity, key, markers["body"], sender_name=markers["sender_name"])
        await sender.send(
            ws.MessageSend(
                channel_id=channel_id,
                client_msg_id=uuid.uuid4().hex,
                key_epoch=1,
                sealed_body=sealed.fields[Purpose.MESSAGE_BODY],
                sealed_sender_name=sealed.fields[Purpose.SENDER_NAME],
                signature=sealed.signature,
            )
        )
        await sender.next(ws.MessageAck)
        await reader.next(ws.MessageNew)

        # Rotate to epoch 2 and send again under the new key.
        new_key = key.next_epoch()
        await api.call(
            "POST",
            f"/v1/channels/{channel_id}/rotate",
            http.KeyRotateResponse,
            body=http.KeyRotateRequest(
                new_epoch=2,
                envelopes=(
                    _envelope(me.identity, me.identity, me.device_id, new_key),
                    _envelope(me.identity, bob.device.identity, bob.device.device_id, new_key),
                ),
                name=_name(me.identity, me.device_id, new_key, markers["channel_rename"]),
            ),
            token=alice.token,
        )
        sealed = seal_message(
            me.identity, new_key, markers["body_after_rotation"], sender_name=markers["sender_name"]
        )
        await sender.send(
            ws.MessageSend(
                channel_id=channel_id,
                client_msg_id=uuid.uuid4().hex,
                key_epoch=2,
                sealed_body=sealed.fields[Purpose.MESSAGE_BODY],
                sealed_sender_name=sealed.fields[Purpose.SENDER_NAME],
                signature=sealed.signature,
            )
        )
        await sender.next(ws.MessageAck)
        page = await api.call(
            "GET", f"/v1/channels/{channel_id}/messages", http.MessagePage, token=bob.token
        )
        assert len(page.messages) == 2
        await sender.close()
        await reader.close()
        # An error path too: a failed login with the plaintext username and password.
        status, _ = await api.raw(
            "POST",
            "/v1/login",
            body=http.LoginRequest(
                username=alice.username, password="wrong", device_id=alice.device.device_id
            ),
        )
        assert status == 401

    server.terminate()
    dump = pg_cluster.pg_dump(db_name)
    log = server.log()
    assert "CREATE TABLE public.messages" in dump  # the dump is real
    assert alice.user_id in dump  # and holds the flow's rows
    assert "DEBUG" in log  # and the log was verbose
    for name, marker in markers.items():
        for text, where in ((dump, "pg_dump"), (log, "server log")):
            assert marker.lower() not in text.lower(), f"{name} found in {where}"
    for token in secrets_seen:
        assert token not in dump, "an invite or session token is stored in plaintext"
        assert token not in log, "an invite or session token is logged"
