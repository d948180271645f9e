"""The IPC socket: NDJSON (`dialtone.wire.ipc`) over a Unix stream socket, for this user only.

- The socket is created mode 0600 in a directory this user owns; on top of that, every accepted
  connection's peer credentials (``SO_PEERCRED``) are checked, and a process of another user is
  disconnected before it is read from -- even if the file's mode was loosened afterwards.
- Input is split into bounded lines (`dialtone.wire.ipc.LineSplitter`) and decoded strictly; a
  malformed, unknown or oversize line gets an ``error`` event and the connection goes on.
- Output goes through a bounded queue per connection. Meter and stats events are dropped
  (counted) for a TUI that does not read; anything else that does not fit means the TUI is stuck,
  and it is disconnected rather than let the daemon's memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
import struct
from pathlib import Path
from typing import Final, Protocol

import attrs

from dialtone.voiced.errors import ConfigError, SocketInUseError, VoicedError
from dialtone.wire import Codec, ProtocolError, Reason
from dialtone.wire.ipc import (
    DaemonError,
    IpcCommand,
    IpcErrorCode,
    IpcEvent,
    LineSplitter,
    Stats,
)

__all__ = ["IpcConnection", "IpcHandler", "IpcServer", "peer_credentials"]

log = logging.getLogger(__name__)

_READ_CHUNK: Final = 64 * 1024
_OUTBOX: Final = 512
_CREDENTIALS: Final = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """The process at the other end of a connected Unix socket.

    Args:
        sock: The connection.

    Returns:
        ``(pid, uid, gid)`` as the kernel recorded them at ``connect``.
    """
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, gid = _CREDENTIALS.unpack(data)
    return pid, uid, gid


class IpcConnection:
    """One accepted TUI connection.

    Args:
        writer: The stream's writer.
        codec: Encodes events.
        number: A serial number for logs.
        pid: The peer's process id.
    """

    def __init__(self, writer: asyncio.StreamWriter, codec: Codec, number: int, pid: int) -> None:
        self._writer = writer
        self._codec = codec
        self.number = number
        self.pid = pid
        self.identified = False
        """Whether the TUI sent a valid ``identify``."""
        self.user_id: str | None = None
        self.device_id: str | None = None
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue(_OUTBOX)
        self._closed = False
        self.dropped = 0
        """Meter and stats events dropped because this TUI did not read them."""
        self._writer_task = asyncio.get_running_loop().create_task(
            self._write(), name=f"ipc {number}: writer"
        )

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (or closing)."""
        return self._closed

    def send(self, event: IpcEvent, *, droppable: bool = False) -> None:
        """Queue an event for this TUI.

        Args:
            event: The event.
            droppable: Drop it (counted) rather than disconnect if the TUI is not reading.
        """
        if self._closed:
            return
        if isinstance(event, Stats) and self.dropped:
            event = attrs.evolve(event, events_dropped=self.dropped)
        try:
            line = self._codec.encode_ipc(event)
        except ProtocolError as exc:
            log.error("cannot encode %s: %s", type(event).__name__, exc)
            return
        try:
            self._outbox.put_nowait(line)
        except asyncio.QueueFull:
            if droppable:
                self.dropped += 1
                return
            log.warning("IPC %d: the TUI is not reading; disconnecting it", self.number)
            self.close()

    async def _write(self) -> None:
        try:
            while (line := await self._outbox.get()) is not None:
                self._writer.write(line)
                await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("IPC %d: write failed: %s", self.number, exc)
        finally:
            self._closed = True
            self._writer.close()

    def close(self) -> None:
        """Flush what is queued and close."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        if self._outbox.full():
            self._writer_task.cancel()
            self._writer.close()

    async def wait_closed(self) -> None:
        """Wait until the writer has finished."""
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._writer_task
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class IpcHandler(Protocol):
    """What the server calls (the daemon)."""

    def connected(self, connection: IpcConnection) -> None:
        """A same-user TUI connected."""

    async def command(self, connection: IpcConnection, command: IpcCommand) -> None:
        """Carry out one command (may raise `VoicedError` to answer with an ``error``)."""

    async def disconnected(self, connection: IpcConnection) -> None:
        """The TUI went away."""


class IpcServer:
    """The daemon's Unix socket server.

    Args:
        path: The socket path.
        codec: The wire codec.
        handler: Receives connections and commands.
        uid: The only user id allowed to connect (default: this process's effective uid).
    """

    def __init__(
        self, path: Path, codec: Codec, handler: IpcHandler, *, uid: int | None = None
    ) -> None:
        self.path = path
        self._codec = codec
        self._handler = handler
        self._uid = os.geteuid() if uid is None else uid
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        self._serial = itertools.count(1)
        self._connections: set[IpcConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        """Connections refused because they came from another user."""

    async def start(self) -> None:
        """Create the socket (mode 0600) and start accepting.

        Raises:
            ConfigError: If the directory is not this user's, or the path is not a socket.
            SocketInUseError: If a daemon already listens there.
            OSError: If the socket cannot be created.
        """
        self._prepare_directory()
        await self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Closed to everyone but us from the moment it exists (the directory is private too).
        previous = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino
        self._server = await asyncio.start_unix_server(self._accept, sock=sock)
        log.info("listening on %s", self.path)

    def _prepare_directory(self) -> None:
        directory = self.path.parent
        if not directory.exists():
            try:
                directory.mkdir(mode=0o700, parents=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the socket directory {directory}: {exc.strerror or exc}"
                ) from None
        info = directory.stat()
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{directory} is not a directory")
        if info.st_uid != self._uid:
            raise ConfigError(
                f"the socket directory {directory} belongs to uid {info.st_uid}, not to this "
                f"user ({self._uid}): use a directory of your own (--ipc)"
            )

    async def _remove_stale(self) -> None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ConfigError(f"{self.path} exists and is not a socket: not touching it")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(self.path)), 2.0)
        except (OSError, TimeoutError):
            log.info("removing the stale socket %s", self.path)
            self.path.unlink(missing_ok=True)
            return
        writer.close()
        raise SocketInUseError(f"another dialtone-voiced is already listening on {self.path}")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(self._serial)
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, _ = peer_credentials(sock)
        except OSError as exc:
            log.warning("IPC %d: no peer credentials (%s): refused", number, exc)
            writer.close()
            return
        if uid != self._uid:
            self.refused += 1
            log.warning(
                "IPC %d: refused a connection from uid %d (pid %d): only uid %d may connect",
                number,
                uid,
                pid,
                self._uid,
            )
            writer.close()
            return
        connection = IpcConnection(writer, self._codec, number, pid)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        log.info("IPC %d: connected (pid %d)", number, pid)
        try:
            self._handler.connected(connection)
            await self._serve(connection, reader)
        finally:
            self._connections.discard(connection)
            connection.close()
            try:
                await self._handler.disconnected(connection)
            finally:
                await connection.wait_closed()
                log.info("IPC %d: disconnected", number)
                if task is not None:
                    self._tasks.discard(task)

    async def _serve(self, connection: IpcConnection, reader: asyncio.StreamReader) -> None:
        splitter = LineSplitter()
        while not connection.closed:
            try:
                chunk = await reader.read(_READ_CHUNK)
            except (ConnectionError, OSError):
                return
            if not chunk:
                return
            for item in splitter.feed(chunk):
                if isinstance(item, ProtocolError):
                    self._protocol_error(connection, item)
                    continue
                try:
                    command = self._codec.decode_ipc_command(item)
                except ProtocolError as exc:
                    self._protocol_error(connection, exc)
                    continue
                await self._run(connection, command)

    def _protocol_error(self, connection: IpcConnection, error: ProtocolError) -> None:
        code = (
            IpcErrorCode.UNSUPPORTED_VERSION
            if error.reason is Reason.UNSUPPORTED_VERSION
            else IpcErrorCode.BAD_COMMAND
        )
        log.info("IPC %d: bad line: %s", connection.number, error)
        connection.send(DaemonError(code=code, message=_clip(f"{error.reason.value}: {error}")))

    async def _run(self, connection: IpcConnection, command: IpcCommand) -> None:
        try:
            await self._handler.command(connection, command)
        except VoicedError as exc:
            log.info("IPC %d: %s: %s", connection.number, command.type, exc.message)
            connection.send(DaemonError(code=exc.code, message=_clip(exc.message)))
        except Exception as exc:
            log.exception("IPC %d: %s failed", connection.number, command.type)
            connection.send(
                DaemonError(
                    code=IpcErrorCode.INTERNAL_ERROR,
                    message=_clip(f"{command.type} failed: {type(exc).__name__}: {exc}"),
                )
            )

    @property
    def connections(self) -> tuple[IpcConnection, ...]:
        """The open connections."""
        return tuple(self._connections)

    async def close(self) -> None:
        """Stop accepting, close every connection and remove the socket file."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5.0)
        self._unlink()

    def _unlink(self) -> None:
        # Only our own socket: another daemon may have replaced a file we no longer own.
        try:
            if self._inode is not None and os.lstat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass


def _clip(text: str) -> str:
    return text if len(text) <= 1000 else text[:997] + "..."
