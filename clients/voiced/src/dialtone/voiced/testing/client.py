"""A minimal IPC client of the daemon, for tests: what a TUI does, without the TUI.

`IpcClient` sends commands and keeps every event it receives, so a test can wait for the first
event of a kind (optionally matching a condition) after a point in the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from dialtone.wire import PROTOCOL_VERSION, Codec, ProtocolError
from dialtone.wire.ipc import DaemonReady, Identify, IpcCommand, IpcEvent, LineSplitter

__all__ = ["IpcClient"]

E = TypeVar("E")
Listener = Callable[[IpcEvent], Awaitable[None] | None]


class IpcClient:
    """One connection to a daemon's IPC socket.

    Use `connect`; close with `close` (or ``async with``).

    Args:
        reader: The stream's reader.
        writer: The stream's writer.
        codec: The wire codec.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, codec: Codec
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._codec = codec
        self.events: list[IpcEvent] = []
        """Every event received, in order."""
        self.bad_lines: list[bytes | ProtocolError] = []
        """Lines that did not decode as events (there should be none)."""
        self.listeners: list[Listener] = []
        """Called with each event as it arrives (after it is recorded)."""
        self.listener_errors: list[BaseException] = []
        """What listeners raised; `wait_for` raises the first one again."""
        self._changed = asyncio.Condition()
        self.closed = asyncio.Event()
        """Set when the daemon closed the connection."""
        self._task = asyncio.get_running_loop().create_task(self._read(), name="ipc client")

    @classmethod
    async def connect(
        cls, path: Path, codec: Codec | None = None, within: float = 10.0
    ) -> IpcClient:
        """Connect to a daemon, retrying until its socket answers.

        Args:
            path: The socket.
            codec: The wire codec (a new one by default).
            within: Seconds to keep trying.

        Returns:
            The client.

        Raises:
            TimeoutError: If the socket does not answer in time.
        """
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(path))
            except (FileNotFoundError, ConnectionRefusedError):
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"no daemon answered on {path}") from None
                await asyncio.sleep(0.05)
                continue
            return cls(reader, writer, codec if codec is not None else Codec())

    async def __aenter__(self) -> IpcClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _read(self) -> None:
        splitter = LineSplitter()
        try:
            while chunk := await self._reader.read(65536):
                for line in splitter.feed(chunk):
                    if isinstance(line, ProtocolError):
                        self.bad_lines.append(line)
                        continue
                    try:
                        event = self._codec.decode_ipc_event(line)
                    except ProtocolError:
                        self.bad_lines.append(line)
                        continue
                    self.events.append(event)
                    for listener in list(self.listeners):
                        try:
                            result = listener(event)
                            if result is not None:
                                await result
                        except Exception as exc:
                            self.listener_errors.append(exc)
                    async with self._changed:
                        self._changed.notify_all()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def send(self, command: IpcCommand) -> None:
        """Send one command.

        Args:
            command: The command.
        """
        await self.send_raw(self._codec.encode_ipc(command))

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (for malformed input).

        Args:
            data: The bytes.
        """
        self._writer.write(data)
        await self._writer.drain()

    def mark(self) -> int:
        """A point in the conversation, for `wait_for`'s ``after``.

        Returns:
            The number of events received so far.
        """
        return len(self.events)

    def find(
        self, kind: type[E], where: Callable[[E], bool] | None = None, after: int = 0
    ) -> E | None:
        """The first event of a kind received so far.

        Args:
            kind: The event class.
            where: A further condition.
            after: Only events from this `mark` on.

        Returns:
            The event, or None.
        """
        for event in self.events[after:]:
            if isinstance(event, kind) and (where is None or where(event)):
                return event
        return None

    async def wait_for(
        self,
        kind: type[E],
        where: Callable[[E], bool] | None = None,
        *,
        after: int = 0,
        within: float = 10.0,
    ) -> E:
        """Wait for an event of a kind.

        Args:
            kind: The event class.
            where: A further condition.
            after: Only events from this `mark` on.
            within: Seconds to wait.

        Returns:
            The first matching event.

        Raises:
            TimeoutError: If none comes (the message lists what did).
            ConnectionError: If the daemon closed the connection first.
            Exception: Whatever a listener raised, if one did.
        """

        def ready() -> bool:
            return (
                self.find(kind, where, after) is not None
                or self.closed.is_set()
                or bool(self.listener_errors)
            )

        try:
            async with asyncio.timeout(within):
                async with self._changed:
                    await self._changed.wait_for(ready)
        except TimeoutError:
            seen = [type(e).__name__ for e in self.events[after:]]
            raise TimeoutError(f"no {kind.__name__} within {within} s; got {seen}") from None
        if self.listener_errors:
            raise self.listener_errors[0]
        event = self.find(kind, where, after)
        if event is None:
            raise ConnectionError(f"the daemon closed the connection before a {kind.__name__}")
        return event

    async def identify(
        self, user_id: str, device_id: str, *, client: str = "dialtone-test"
    ) -> DaemonReady:
        """Send ``identify`` and wait for ``ready``.

        Args:
            user_id: The user.
            device_id: The device.
            client: The client name.

        Returns:
            The ``ready`` event.
        """
        mark = self.mark()
        await self.send(
            Identify(
                protocol_version=PROTOCOL_VERSION,
                user_id=user_id,
                device_id=device_id,
                client=client,
            )
        )
        return await self.wait_for(DaemonReady, after=mark)

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    def __repr__(self) -> str:
        return f"IpcClient({len(self.events)} events)"
