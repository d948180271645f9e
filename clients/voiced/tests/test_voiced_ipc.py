"""The IPC socket of a running daemon: identify and ready, malformed input, other users, state
for a TUI that reconnects, a TUI that disconnects mid-call, and failures that leave it up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dialtone.ptt.testing import private_session_bus
from dialtone.voiced.daemon import DAEMON_NAME
from dialtone.voiced.ipc_server import IpcConnection
from dialtone.voiced.testing import (
    DaemonProcess,
    IpcClient,
    PulseAudio,
    private_pulseaudio,
    running_daemon,
)
from dialtone.wire import PROTOCOL_VERSION, Codec
from dialtone.wire.common import IceServer, Ping, Pong
from dialtone.wire.ipc import (
    DaemonError,
    DaemonReady,
    Deafen,
    IceConfig,
    Identify,
    IpcErrorCode,
    Level,
    Mute,
    PeerOffer,
    Stats,
    Undeafen,
    Unmute,
    VoiceConnected,
    VoiceDisconnected,
    VoiceJoinCommand,
    VoiceLeaveCommand,
    VoiceMembers,
)

USER = str(uuid.uuid4())
DEVICE = str(uuid.uuid4())
CHANNEL = str(uuid.uuid4())
NOBODY = 65534

# Run by user nobody with the system's Python (the venv's interpreter lives under /root): connect,
# identify, and print what came back.
NOBODY_CLIENT = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(10)
try:
    sock.connect(sys.argv[1])
except OSError as exc:
    print(type(exc).__name__)
    sys.exit(0)
try:
    sock.sendall(sys.argv[2].encode() + b"\\n")
    data = sock.recv(65536)
except (ConnectionResetError, BrokenPipeError):
    data = b""
print("hung up" if data == b"" else repr(data))
"""


def no_sound_daemon(sockets: Path) -> Iterator[DaemonProcess]:
    with running_daemon(
        sockets / "v.sock",
        ["--vad", "--debug"],
        env={"PULSE_SERVER": f"unix:{sockets}/no-such-pulse", "PULSE_CLIENTCONFIG": "/dev/null"},
    ) as process:
        yield process


@pytest.fixture
def daemon(sockets: Path) -> Iterator[DaemonProcess]:
    """A daemon with voice activity detection and no sound server at all."""
    yield from no_sound_daemon(sockets)


@pytest.fixture(scope="module")
def shared_daemon() -> Iterator[DaemonProcess]:
    """The same, for tests that change no daemon state (each has its own connection)."""
    directory = Path(tempfile.mkdtemp(prefix="dtv-"))
    try:
        yield from no_sound_daemon(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def shared_client(shared_daemon: DaemonProcess) -> AsyncIterator[IpcClient]:
    async with await IpcClient.connect(shared_daemon.socket_path) as connection:
        yield connection


@pytest.fixture
async def client(daemon: DaemonProcess) -> AsyncIterator[IpcClient]:
    async with await IpcClient.connect(daemon.socket_path) as connection:
        yield connection


async def ping(client: IpcClient, ping_id: int) -> None:
    """The daemon is alive and this connection still served."""
    mark = client.mark()
    await client.send(Ping(ping_id=ping_id))
    pong = await client.wait_for(Pong, after=mark)
    assert pong.ping_id == ping_id


async def test_ping_is_answered_before_identify(shared_client: IpcClient) -> None:
    await ping(shared_client, 7)


async def test_commands_before_identify_are_refused(shared_client: IpcClient) -> None:
    await shared_client.send(Mute())
    error = await shared_client.wait_for(DaemonError)
    assert error.code == IpcErrorCode.NOT_IDENTIFIED
    assert not error.fatal


async def test_identify_is_answered_with_the_current_state(client: IpcClient) -> None:
    ready = await client.identify(USER, DEVICE)
    assert ready == DaemonReady(
        protocol_version=PROTOCOL_VERSION,
        daemon=DAEMON_NAME,
        ptt_backend="vad",
        ptt_reason="voice activity detection was chosen: no push-to-talk key",
        vad=True,
    )


async def test_mute_and_deafen_show_in_the_state(client: IpcClient) -> None:
    await client.identify(USER, DEVICE)
    await client.send(Mute())
    await client.send(Deafen())
    ready = await client.identify(USER, DEVICE)
    assert ready.muted
    assert ready.deafened
    await client.send(Unmute())
    await client.send(Undeafen())
    ready = await client.identify(USER, DEVICE)
    assert not ready.muted
    assert not ready.deafened


async def test_an_unsupported_protocol_version_is_an_error(client: IpcClient) -> None:
    await client.send(
        Identify(protocol_version=PROTOCOL_VERSION + 1, user_id=USER, device_id=DEVICE, client="x")
    )
    error = await client.wait_for(DaemonError)
    assert error.code == IpcErrorCode.UNSUPPORTED_VERSION
    await client.send(Mute())
    assert (await client.wait_for(DaemonError, after=1)).code == IpcErrorCode.NOT_IDENTIFIED


MALFORMED = [
    pytest.param(b"this is not json\n", "malformed", id="not-json"),
    pytest.param(b'{"type": "voice.mute"\n', "malformed", id="truncated-json"),
    pytest.param(b"\xff\xfe{}\n", "malformed", id="not-utf8"),
    pytest.param(b"[1, 2, 3]\n", "wrong_type", id="not-an-object"),
    pytest.param(b'{"type": "voice.explode"}\n', "unknown_type", id="unknown-type"),
    pytest.param(b'{"no_type": 1}\n', "missing_type", id="no-type"),
    pytest.param(b'{"type": "voice.mute", "loud": true}\n', "unknown_field", id="unknown-field"),
    pytest.param(b'{"type": "ping"}\n', "missing_field", id="missing-field"),
    pytest.param(b'{"type": "ping", "ping_id": "one"}\n', "wrong_type", id="wrong-type"),
    pytest.param(b'{"type": "ping", "ping_id": -1}\n', "bad_value", id="bad-value"),
    pytest.param(b'{"type":"ping","ping_id":1,"ping_id":2}\n', "malformed", id="repeated-key"),
    pytest.param(b'{"type": "ping", "ping_id": NaN}\n', "malformed", id="nan"),
    pytest.param(b"[" * 100_000 + b"\n", "malformed", id="deep-nesting"),
    pytest.param(b'{"x": "' + b"a" * 300_000 + b'"}\n', "too_large", id="huge"),
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
async def test_a_malformed_line_gets_an_error_and_the_connection_goes_on(
    shared_client: IpcClient, line: bytes, reason: str
) -> None:
    client = shared_client
    await client.identify(USER, DEVICE)
    mark = client.mark()
    await client.send_raw(line)
    error = await client.wait_for(DaemonError, after=mark)
    assert error.code == IpcErrorCode.BAD_COMMAND
    assert error.message.startswith(f"{reason}:"), error.message
    assert not error.fatal
    await ping(client, 1)


async def test_several_bad_lines_in_one_write_each_get_one_error(
    shared_client: IpcClient,
) -> None:
    client = shared_client
    await client.identify(USER, DEVICE)
    mark = client.mark()
    await client.send_raw(b"nope\n\n   \n" + json.dumps({"type": "ping", "ping_id": 5}).encode())
    await client.send_raw(b"\n{oops}\n")
    await client.wait_for(Pong, after=mark)
    await ping(client, 6)
    errors = [e for e in client.events[mark:] if isinstance(e, DaemonError)]
    assert len(errors) == 2


async def test_signaling_outside_a_voice_room_is_refused(shared_client: IpcClient) -> None:
    client = shared_client
    await client.identify(USER, DEVICE)
    await client.send(
        PeerOffer(
            channel_id=CHANNEL,
            call_id="c1",
            peer_user_id=str(uuid.uuid4()),
            peer_device_id=str(uuid.uuid4()),
            sdp="v=0",
        )
    )
    assert (await client.wait_for(DaemonError)).code == IpcErrorCode.NOT_IN_VOICE


async def test_no_audio_device_is_an_error_and_the_daemon_stays_up(
    client: IpcClient, daemon: DaemonProcess
) -> None:
    await client.identify(USER, DEVICE)
    await client.send(VoiceJoinCommand(channel_id=CHANNEL))
    error = await client.wait_for(DaemonError, within=30)
    assert error.code == IpcErrorCode.NO_AUDIO_DEVICE
    assert "no input audio device" in error.message
    assert not error.fatal
    ready = await client.identify(USER, DEVICE)
    assert ready.channel_id is None
    assert daemon.process.poll() is None
    assert "Traceback" not in daemon.log()


async def test_a_sound_server_started_after_the_daemon_is_found_at_the_next_join(
    sockets: Path,
) -> None:
    """No audio device is an error and the daemon stays up; once a sound server runs, the
    next join opens its devices without restarting the daemon (PortAudio is rescanned)."""
    later = sockets / "pulse"
    later.mkdir()
    (later / "client.conf").write_text("autospawn = no\n")
    env = {
        "PULSE_SERVER": f"unix:{later / 'native'}",
        "PULSE_CLIENTCONFIG": str(later / "client.conf"),
        "PULSE_SOURCE": "mic_late.monitor",
        "PULSE_SINK": "spk_late",
    }
    with running_daemon(sockets / "l.sock", ["--vad"], env=env) as daemon:
        async with await IpcClient.connect(daemon.socket_path) as tui:
            await tui.identify(USER, DEVICE)
            await tui.send(VoiceJoinCommand(channel_id=CHANNEL))
            error = await tui.wait_for(DaemonError, within=30)
            assert error.code == IpcErrorCode.NO_AUDIO_DEVICE
            with private_pulseaudio(later) as pulse:
                pulse.add_null_sink("mic_late")
                pulse.add_null_sink("spk_late")
                mark = tui.mark()
                await tui.send(VoiceJoinCommand(channel_id=CHANNEL))
                await tui.wait_for(VoiceConnected, after=mark, within=30)
                ready = await tui.identify(USER, DEVICE)
                assert ready.channel_id == CHANNEL
                assert ready.input_device
                await tui.send(VoiceLeaveCommand(channel_id=CHANNEL))
                await tui.wait_for(VoiceDisconnected, after=mark)
        assert "Traceback" not in daemon.log()


@pytest.mark.parametrize("with_bus", [False, True], ids=["no-session-bus", "no-portal-on-the-bus"])
async def test_no_portal_is_an_error_and_the_daemon_stays_up(sockets: Path, with_bus: bool) -> None:
    """An explicit portal push-to-talk that cannot start is reported (ptt_unavailable) to every
    TUI that identifies; nothing is sent, and the daemon goes on serving."""
    with contextlib.ExitStack() as stack:
        if with_bus:
            bus_address = stack.enter_context(private_session_bus()).address
        else:
            bus_address = f"unix:path={sockets}/no-such-bus"
        daemon = stack.enter_context(
            running_daemon(
                sockets / "p.sock",
                ["--ptt-backend", "portal"],
                env={"DBUS_SESSION_BUS_ADDRESS": bus_address, "WAYLAND_DISPLAY": "wayland-9"},
            )
        )
        async with await IpcClient.connect(daemon.socket_path) as tui:
            await tui.identify(USER, DEVICE)
            error = await tui.wait_for(
                DaemonError, lambda e: e.code == IpcErrorCode.PTT_UNAVAILABLE, within=20
            )
            assert "portal" in error.message.lower()
            assert "the microphone is not sent" in error.message
            ready = await tui.wait_for(
                DaemonReady, lambda r: r.ptt_backend == "none" and "starting" not in r.ptt_reason
            )
            assert not ready.vad
            await ping(tui, 11)
        # A TUI that connects later is told as well.
        async with await IpcClient.connect(daemon.socket_path) as late:
            ready = await late.identify(USER, DEVICE)
            assert ready.ptt_backend == "none"
            error = await late.wait_for(DaemonError)
            assert error.code == IpcErrorCode.PTT_UNAVAILABLE
        assert daemon.process.poll() is None
        assert "Traceback" not in daemon.log()


async def test_relay_only_without_a_turn_server_is_an_error(client: IpcClient) -> None:
    await client.identify(USER, DEVICE)
    stun_only = (IceServer(urls=("stun:127.0.0.1:3478",)),)
    await client.send(IceConfig(ice_servers=stun_only, relay_only=True))
    await client.send(VoiceJoinCommand(channel_id=CHANNEL))
    error = await client.wait_for(DaemonError)
    assert error.code == IpcErrorCode.TURN_UNAVAILABLE
    assert "needs a TURN server" in error.message
    await ping(client, 3)


def nobody(*args: str) -> str:
    result = subprocess.run(
        ["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", NOBODY_CLIENT, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


async def test_another_user_cannot_connect(client: IpcClient, daemon: DaemonProcess) -> None:
    identify = json.dumps(
        {
            "type": "identify",
            "protocol_version": PROTOCOL_VERSION,
            "user_id": USER,
            "device_id": DEVICE,
            "client": "intruder",
        }
    )
    path = daemon.socket_path
    # The socket and its directory are ours alone: nobody cannot even reach it.
    assert await asyncio.to_thread(nobody, str(path), identify) == "PermissionError"
    # Even with both opened up by mistake, the daemon checks who connects (SO_PEERCRED) and
    # hangs up on another user without reading a byte or answering.
    os.chmod(path.parent, 0o711)  # noqa: S103 - the mistake under test
    os.chmod(path, 0o666)  # noqa: S103
    assert await asyncio.to_thread(nobody, str(path), identify) == "hung up"
    assert f"refused a connection from uid {NOBODY}" in daemon.log()
    await client.identify(USER, DEVICE)
    await ping(client, 9)


# --- with a sound server -----------------------------------------------------------------------


@pytest.fixture
def audible(pulse: PulseAudio, sockets: Path) -> Iterator[DaemonProcess]:
    """A daemon whose microphone and speaker are the session's null sinks."""
    with running_daemon(
        sockets / "a.sock", ["--vad", "--debug"], env=pulse.device_env("mic_t", "spk_t")
    ) as process:
        yield process


async def test_join_opens_the_devices_and_a_reconnecting_tui_gets_the_state(
    audible: DaemonProcess,
) -> None:
    async with await IpcClient.connect(audible.socket_path) as tui:
        await tui.identify(USER, DEVICE)
        await tui.send(VoiceJoinCommand(channel_id=CHANNEL, muted=True))
        await tui.wait_for(VoiceConnected, within=20)
        members = await tui.wait_for(VoiceMembers)
        assert members.members == ()
        async with await IpcClient.connect(audible.socket_path) as second:
            ready = await second.identify(USER, DEVICE)
            assert ready.channel_id == CHANNEL
            assert ready.muted
            assert ready.input_device
            assert ready.output_device
        # The second connection leaving does not end the call of the first.
        await ping(tui, 4)
        assert tui.find(VoiceDisconnected) is None
        await tui.send(VoiceLeaveCommand(channel_id=CHANNEL))
        left = await tui.wait_for(VoiceDisconnected)
        assert left.reason == "left the voice room"


async def test_a_tui_that_disconnects_mid_call_ends_it_cleanly(audible: DaemonProcess) -> None:
    async with await IpcClient.connect(audible.socket_path) as watcher:
        await watcher.identify(USER, DEVICE)
        tui = await IpcClient.connect(audible.socket_path)
        await tui.identify(USER, DEVICE)
        await tui.send(VoiceJoinCommand(channel_id=CHANNEL))
        await tui.wait_for(VoiceConnected, within=20)
        await watcher.wait_for(VoiceConnected)
        await tui.close()
        ended = await watcher.wait_for(VoiceDisconnected, within=10)
        assert ended == VoiceDisconnected(channel_id=CHANNEL, reason="the TUI disconnected")
        ready = await watcher.identify(USER, DEVICE)
        assert ready.channel_id is None
    assert "Traceback" not in audible.log()


async def test_level_events_a_tui_does_not_read_are_dropped_and_reported_in_stats() -> None:
    # A TUI that stops reading loses level and stats events (never state events: those would
    # disconnect it); the next stats event it does get says how many it missed.
    theirs, ours = socket.socketpair()
    _, writer = await asyncio.open_unix_connection(sock=ours)
    connection = IpcConnection(writer, Codec(), number=1, pid=os.getpid())
    level = Level(rms_dbfs=-30.0, peak_dbfs=-20.0, transmitting=True)
    for _ in range(600):  # the loop does not run in between: the outbox (512) overflows
        connection.send(level, droppable=True)
    assert connection.dropped == 600 - 512
    stats = Stats(frames_captured=1, capture_dropped=0, frames_played=1, playback_dropped=0)
    theirs.setblocking(False)
    tui_reader, _tui_writer = await asyncio.open_unix_connection(sock=theirs)
    for _ in range(512):
        line = await asyncio.wait_for(tui_reader.readline(), 10)
        assert json.loads(line)["type"] == "voice.level"
    connection.send(stats, droppable=True)
    reported = json.loads(await asyncio.wait_for(tui_reader.readline(), 10))
    assert reported["type"] == "stats"
    assert reported["events_dropped"] == 600 - 512
    connection.close()
    assert await asyncio.wait_for(tui_reader.read(), 10) == b""
