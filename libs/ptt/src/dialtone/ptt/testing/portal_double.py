"""A test double of the XDG Desktop Portal's GlobalShortcuts interface, on a real D-Bus bus.

It owns ``org.freedesktop.portal.Desktop`` and answers at ``/org/freedesktop/portal/desktop``
the way xdg-desktop-portal does: ``CreateSession``, ``BindShortcuts`` and ``ListShortcuts``
return a Request handle computed from the caller's unique name and ``handle_token``, and the
result comes in that Request's ``Response`` signal; the ``version`` property is readable; the
session is a ``org.freedesktop.portal.Session`` object that can be closed; ``Activated`` /
``Deactivated`` are sent when a test calls `PortalDouble.press` / `PortalDouble.release`.

dbus-next does not hand a method its caller's name, so every call is answered from a message
handler (``bus.add_message_handler``) that reads ``msg.sender``. The double sends every reply and
signal itself and keeps the futures of those sends until they finish, retrieving their results:
a reply that cannot be written any more (the double is stopping, the bus went away) is dropped
quietly instead of leaving a failed future for asyncio to complain about at garbage collection.
Method calls that arrive once `PortalDouble.stop` has begun are not answered.

By default the ``Response`` signal is sent BEFORE the method's reply, the harshest legal order:
a client that subscribes only once it has the reply misses it. Like the real portal, signals
are sent to the caller only (unicast) unless ``unicast_signals=False``.

Example (in-process, on a private bus)::

    with private_session_bus() as bus:
        async with PortalDouble().running(bus.address) as portal:
            ...  # start the client with DBUS_SESSION_BUS_ADDRESS=bus.address
            await portal.wait_bound()
            await portal.press()
            await portal.release()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import attrs
from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageFlag, MessageType, NameFlag, RequestNameReply
from dbus_next.message import Message
from dbus_next.signature import Variant

from dialtone.ptt.portal import (
    GLOBAL_SHORTCUTS_INTERFACE,
    PORTAL_BUS_NAME,
    PORTAL_OBJECT_PATH,
    REQUEST_INTERFACE,
    SESSION_INTERFACE,
    request_path,
    session_path,
)

__all__ = ["BoundSession", "PortalDouble", "PortalDoubleCall"]

log = logging.getLogger(__name__)

_FLUSH_TIMEOUT: Final = 2.0
_PROPERTIES: Final = "org.freedesktop.DBus.Properties"
_INTROSPECTABLE: Final = "org.freedesktop.DBus.Introspectable"
_ERROR_INVALID_ARGS: Final = "org.freedesktop.DBus.Error.InvalidArgs"
_ERROR_ACCESS_DENIED: Final = "org.freedesktop.DBus.Error.AccessDenied"
_ERROR_UNKNOWN_METHOD: Final = "org.freedesktop.DBus.Error.UnknownMethod"

_INTROSPECTION: Final = """<node>
  <interface name="org.freedesktop.portal.GlobalShortcuts">
    <method name="CreateSession">
      <arg type="a{sv}" name="options" direction="in"/>
      <arg type="o" name="handle" direction="out"/>
    </method>
    <method name="BindShortcuts">
      <arg type="o" name="session_handle" direction="in"/>
      <arg type="a(sa{sv})" name="shortcuts" direction="in"/>
      <arg type="s" name="parent_window" direction="in"/>
      <arg type="a{sv}" name="options" direction="in"/>
      <arg type="o" name="request_handle" direction="out"/>
    </method>
    <method name="ListShortcuts">
      <arg type="o" name="session_handle" direction="in"/>
      <arg type="a{sv}" name="options" direction="in"/>
      <arg type="o" name="request_handle" direction="out"/>
    </method>
    <signal name="Activated">
      <arg type="o" name="session_handle"/>
      <arg type="s" name="shortcut_id"/>
      <arg type="t" name="timestamp"/>
      <arg type="a{sv}" name="options"/>
    </signal>
    <signal name="Deactivated">
      <arg type="o" name="session_handle"/>
      <arg type="s" name="shortcut_id"/>
      <arg type="t" name="timestamp"/>
      <arg type="a{sv}" name="options"/>
    </signal>
    <signal name="ShortcutsChanged">
      <arg type="o" name="session_handle"/>
      <arg type="a(sa{sv})" name="shortcuts"/>
    </signal>
    <property name="version" type="u" access="read"/>
  </interface>
</node>
"""


@attrs.frozen
class PortalDoubleCall:
    """One GlobalShortcuts method call the double received.

    Attributes:
        method: ``CreateSession``, ``BindShortcuts`` or ``ListShortcuts``.
        sender: The caller's unique bus name.
        request_handle: The Request path returned.
        expected_handle: The path computed from the sender and ``handle_token`` (equal to
            ``request_handle`` when the caller passed a token).
    """

    method: str
    sender: str
    request_handle: str
    expected_handle: str | None


@attrs.frozen
class BoundSession:
    """A session whose shortcuts were bound.

    Attributes:
        handle: The session's object path.
        sender: The unique bus name of the client that owns it.
        shortcuts: Shortcut id -> the options the client sent (``description``,
            ``preferred_trigger``), unwrapped from their variants.
    """

    handle: str
    sender: str
    shortcuts: dict[str, dict[str, Any]]


@attrs.define
class _Session:
    handle: str
    sender: str
    shortcuts: dict[str, dict[str, Any]] = attrs.Factory(dict)
    bound: bool = False


class PortalDouble:
    """An in-process GlobalShortcuts portal for tests (see the module documentation)."""

    def __init__(
        self,
        *,
        version: int = 1,
        create_session_response: int = 0,
        bind_response: int = 0,
        implements_global_shortcuts: bool = True,
        unicast_signals: bool = True,
        response_delay: float | None = None,
        trigger_description: str = "Ctrl+Space",
        bind_leaves_out_shortcuts: bool = False,
    ) -> None:
        """Configure the double; it joins a bus in `start`.

        Args:
            version: The GlobalShortcuts ``version`` property.
            create_session_response: The ``CreateSession`` Response code (0 ok, 1 cancelled by
                the user, 2 other).
            bind_response: The ``BindShortcuts`` Response code (1 = the user declined).
            implements_global_shortcuts: False to own the portal name without the interface
                (like a portal whose desktop backend has no global shortcuts).
            unicast_signals: Send Response/Activated/Deactivated/Closed to the session's owner
                only (as xdg-desktop-portal does); False to broadcast them.
            response_delay: None to send each Response before the method reply; a number of
                seconds to send it that long after (a user answering a dialog).
            trigger_description: What the bound shortcuts' ``trigger_description`` says.
            bind_leaves_out_shortcuts: Answer BindShortcuts with code 0 but no shortcuts (the
                user removed ours in the dialog).
        """
        self.version = version
        self.create_session_response = create_session_response
        self.bind_response = bind_response
        self.implements_global_shortcuts = implements_global_shortcuts
        self.unicast_signals = unicast_signals
        self.response_delay = response_delay
        self.trigger_description = trigger_description
        self.bind_leaves_out_shortcuts = bind_leaves_out_shortcuts
        self.calls: list[PortalDoubleCall] = []
        """Every GlobalShortcuts method call, in order."""
        self.closed_sessions: list[str] = []
        """Handles of sessions closed by their client (Session.Close or leaving the bus)."""
        self._sessions: dict[str, _Session] = {}
        self._bound = asyncio.Event()
        self._timers: set[asyncio.TimerHandle] = set()
        self._sends: set[asyncio.Future[None]] = set()
        self._bus: Any = None

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def unique_name(self) -> str:
        """The double's unique bus name (the sender of its signals).

        Raises:
            RuntimeError: Before `start`.
        """
        return str(self._connected_bus().unique_name)

    async def start(self, bus_address: str) -> None:
        """Connect to the bus at ``bus_address`` and own ``org.freedesktop.portal.Desktop``.

        Args:
            bus_address: A D-Bus address (e.g. `dialtone.ptt.testing.SessionBus.address`).

        Raises:
            RuntimeError: If the name is already owned on that bus, or already started.
        """
        if self._bus is not None:
            raise RuntimeError("PortalDouble is already started")
        # Any: dbus-next's MessageBus is only partly annotated (disconnect() is not).
        bus: Any = await MessageBus(bus_address=bus_address).connect()
        bus.add_message_handler(self._handle)
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',sender='org.freedesktop.DBus',"
                    "interface='org.freedesktop.DBus',member='NameOwnerChanged'"
                ],
            )
        )
        reply = await bus.request_name(PORTAL_BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply is not RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            raise RuntimeError(f"{PORTAL_BUS_NAME} is already owned on this bus ({reply})")
        self._bus = bus

    async def stop(self) -> None:
        """Stop answering, let what was already sent go out, and leave the bus (idempotent)."""
        bus, self._bus = self._bus, None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if bus is None:
            return
        # From here on _handle answers nothing: a reply queued behind the disconnect below could
        # only fail to be written.
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=_FLUSH_TIMEOUT)
        bus.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.wait_for_disconnect(), 5)
        # A write still queued when the socket closed never completes: nothing waits for it.
        for sent in self._sends:
            sent.cancel()
        self._sends.clear()

    @contextlib.asynccontextmanager
    async def running(self, bus_address: str) -> AsyncIterator[PortalDouble]:
        """Run the double for an ``async with`` block.

        Args:
            bus_address: The D-Bus address to serve on.

        Yields:
            The double itself.
        """
        await self.start(bus_address)
        try:
            yield self
        finally:
            await self.stop()

    # --- what tests use --------------------------------------------------------------------------

    @property
    def sessions(self) -> list[BoundSession]:
        """The open sessions whose shortcuts are bound, oldest first."""
        return [
            BoundSession(handle=s.handle, sender=s.sender, shortcuts=dict(s.shortcuts))
            for s in self._sessions.values()
            if s.bound
        ]

    async def wait_bound(self) -> BoundSession:
        """Wait until a client has an open session with bound shortcuts.

        Wrap it in ``asyncio.timeout(...)``: it waits for as long as it takes.

        Returns:
            The newest such session.
        """
        while not self.sessions:
            self._bound.clear()
            await self._bound.wait()
        return self.sessions[-1]

    async def press(self, shortcut_id: str | None = None, *, session: str | None = None) -> None:
        """Send ``Activated`` as if the user pressed the bound key.

        Args:
            shortcut_id: The shortcut; by default the session's first bound one.
            session: The session handle; by default the newest bound session.

        Raises:
            LookupError: If no session (or no such shortcut) is bound.
        """
        await self._shortcut_signal("Activated", shortcut_id, session)

    async def release(self, shortcut_id: str | None = None, *, session: str | None = None) -> None:
        """Send ``Deactivated`` as if the user released the bound key.

        Args:
            shortcut_id: The shortcut; by default the session's first bound one.
            session: The session handle; by default the newest bound session.

        Raises:
            LookupError: If no session (or no such shortcut) is bound.
        """
        await self._shortcut_signal("Deactivated", shortcut_id, session)

    async def close_session(self, session: str | None = None) -> None:
        """Close a session from the portal's side (``Session::Closed``), as a revocation would.

        Args:
            session: The session handle; by default the newest bound session.

        Raises:
            LookupError: If no session is bound.
        """
        target = self._session(session)
        del self._sessions[target.handle]
        await self._emit(target.sender, target.handle, SESSION_INTERFACE, "Closed", "", [])

    async def emit_foreign_activation(self, session: str, shortcut_id: str) -> None:
        """Broadcast ``Activated`` for a session and shortcut the double did not bind.

        For checking that a client ignores activations that are not its own.

        Args:
            session: Any session handle.
            shortcut_id: Any shortcut id.
        """
        await self._emit(
            None,
            PORTAL_OBJECT_PATH,
            GLOBAL_SHORTCUTS_INTERFACE,
            "Activated",
            "osta{sv}",
            [session, shortcut_id, _timestamp_ms(), {}],
        )

    # --- internals -------------------------------------------------------------------------------

    def _connected_bus(self) -> Any:
        if self._bus is None:
            raise RuntimeError("PortalDouble is not started")
        return self._bus

    def _session(self, handle: str | None) -> _Session:
        bound = [s for s in self._sessions.values() if s.bound]
        if handle is None:
            if not bound:
                raise LookupError("no client has bound a GlobalShortcuts session")
            return bound[-1]
        for candidate in bound:
            if candidate.handle == handle:
                return candidate
        raise LookupError(f"no bound GlobalShortcuts session {handle}")

    async def _shortcut_signal(
        self, member: str, shortcut_id: str | None, handle: str | None
    ) -> None:
        target = self._session(handle)
        if shortcut_id is None:
            shortcut_id = next(iter(target.shortcuts), None)
        if shortcut_id is None or shortcut_id not in target.shortcuts:
            raise LookupError(f"shortcut {shortcut_id!r} is not bound in {target.handle}")
        await self._emit(
            target.sender,
            PORTAL_OBJECT_PATH,
            GLOBAL_SHORTCUTS_INTERFACE,
            member,
            "osta{sv}",
            [target.handle, shortcut_id, _timestamp_ms(), {}],
        )

    def _signal(
        self,
        destination: str | None,
        path: str,
        interface: str,
        member: str,
        signature: str,
        body: list[Any],
    ) -> Message:
        message = Message(
            message_type=MessageType.SIGNAL,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=body,
        )
        if self.unicast_signals and destination is not None:
            message.destination = destination
        return message

    async def _emit(
        self,
        destination: str | None,
        path: str,
        interface: str,
        member: str,
        signature: str,
        body: list[Any],
    ) -> None:
        bus = self._connected_bus()
        await bus.send(self._signal(destination, path, interface, member, signature, body))

    def _send(self, message: Message) -> None:
        """Send without waiting, keeping the send's future until it is done (see the module)."""
        bus = self._bus
        if bus is None:
            return
        sent: asyncio.Future[None] = bus.send(message)
        self._sends.add(sent)
        sent.add_done_callback(self._sent)

    def _sent(self, sent: asyncio.Future[None]) -> None:
        self._sends.discard(sent)
        if not sent.cancelled() and sent.exception() is not None:
            # The bus connection is gone; so is whoever the message was for.
            log.debug("portal double: a message could not be sent: %r", sent.exception())

    def _handle(self, msg: Message) -> bool:
        # Every method call is answered here, through _send, and True tells dbus-next it is
        # handled: dbus-next would otherwise send a reply itself and drop the send's future.
        if msg.message_type is MessageType.SIGNAL:
            self._on_signal(msg)
            return False
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        if self._bus is None:
            return True  # stopping: see stop()
        reply = self._reply(msg)
        if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            self._send(reply)
        return True

    def _reply(self, msg: Message) -> Message:
        if msg.path == PORTAL_OBJECT_PATH:
            return self._on_portal_call(msg)
        if msg.interface == SESSION_INTERFACE and msg.member == "Close":
            session = self._sessions.get(str(msg.path))
            if session is None or session.sender != msg.sender:
                return Message.new_error(msg, _ERROR_ACCESS_DENIED, "not your session")
            del self._sessions[session.handle]
            self.closed_sessions.append(session.handle)
            return Message.new_method_return(msg)
        if msg.interface == REQUEST_INTERFACE and msg.member == "Close":
            return Message.new_method_return(msg)
        return Message.new_error(
            msg, _ERROR_UNKNOWN_METHOD, f"no method {msg.interface}.{msg.member} at {msg.path}"
        )

    def _on_signal(self, msg: Message) -> None:
        # The portal closes every session of a client that leaves the bus.
        if msg.member != "NameOwnerChanged" or msg.sender != "org.freedesktop.DBus":
            return
        name, _old_owner, new_owner = msg.body
        if new_owner:
            return
        for handle, session in list(self._sessions.items()):
            if session.sender == name:
                del self._sessions[handle]
                self.closed_sessions.append(handle)

    def _on_portal_call(self, msg: Message) -> Message:
        if msg.interface == _INTROSPECTABLE and msg.member == "Introspect":
            return Message.new_method_return(msg, "s", [_INTROSPECTION])
        if msg.interface == _PROPERTIES:
            return self._on_properties(msg)
        if msg.interface != GLOBAL_SHORTCUTS_INTERFACE or not self.implements_global_shortcuts:
            return Message.new_error(
                msg, _ERROR_UNKNOWN_METHOD, f"No such interface {msg.interface!r}"
            )
        handlers = {
            ("CreateSession", "a{sv}"): self._create_session,
            ("BindShortcuts", "oa(sa{sv})sa{sv}"): self._bind_shortcuts,
            ("ListShortcuts", "oa{sv}"): self._list_shortcuts,
        }
        handler = handlers.get((str(msg.member), str(msg.signature)))
        if handler is None:
            return Message.new_error(
                msg, _ERROR_UNKNOWN_METHOD, f"no method {msg.member}({msg.signature})"
            )
        return handler(msg)

    def _on_properties(self, msg: Message) -> Message:
        # Answered the way GDBus (xdg-desktop-portal) answers, including for a missing interface.
        interface = msg.body[0] if msg.body else ""
        if interface != GLOBAL_SHORTCUTS_INTERFACE or not self.implements_global_shortcuts:
            return Message.new_error(msg, _ERROR_INVALID_ARGS, f"No such interface {interface!r}")
        if msg.member == "Get" and msg.signature == "ss":
            if msg.body[1] != "version":
                return Message.new_error(
                    msg, _ERROR_INVALID_ARGS, f"No such property {msg.body[1]!r}"
                )
            return Message.new_method_return(msg, "v", [Variant("u", self.version)])
        if msg.member == "GetAll" and msg.signature == "s":
            return Message.new_method_return(
                msg, "a{sv}", [{"version": Variant("u", self.version)}]
            )
        return Message.new_error(msg, _ERROR_INVALID_ARGS, "properties are read-only")

    def _request_handle(self, msg: Message, options: dict[str, Any]) -> tuple[str, str | None]:
        token = options.get("handle_token")
        if isinstance(token, Variant) and token.signature == "s":
            expected = request_path(str(msg.sender), str(token.value))
            return expected, expected
        return request_path(str(msg.sender), f"t{secrets.token_hex(8)}"), None

    def _answer(
        self,
        msg: Message,
        method: str,
        options: dict[str, Any],
        code: int,
        results: dict[str, Variant],
    ) -> Message:
        handle, expected = self._request_handle(msg, options)
        self.calls.append(
            PortalDoubleCall(
                method=method,
                sender=str(msg.sender),
                request_handle=handle,
                expected_handle=expected,
            )
        )
        response = self._signal(
            str(msg.sender), handle, REQUEST_INTERFACE, "Response", "ua{sv}", [code, results]
        )
        if self.response_delay is None:
            # Queued before the reply this handler returns, so it reaches the client first.
            self._send(response)
        else:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.response_delay, self._send_later, response)
            self._timers.add(timer)
        return Message.new_method_return(msg, "o", [handle])

    def _send_later(self, message: Message) -> None:
        self._send(message)

    def _create_session(self, msg: Message) -> Message:
        (options,) = msg.body
        results: dict[str, Variant] = {}
        if self.create_session_response == 0:
            token = options.get("session_handle_token")
            suffix = str(token.value) if isinstance(token, Variant) else f"s{secrets.token_hex(8)}"
            handle = session_path(str(msg.sender), suffix)
            self._sessions[handle] = _Session(handle=handle, sender=str(msg.sender))
            # The specification types session_handle as a string (not an object path).
            results["session_handle"] = Variant("s", handle)
        return self._answer(msg, "CreateSession", options, self.create_session_response, results)

    def _bind_shortcuts(self, msg: Message) -> Message:
        session_handle, shortcuts, _parent_window, options = msg.body
        session = self._sessions.get(str(session_handle))
        if session is None or session.sender != msg.sender:
            return Message.new_error(msg, _ERROR_ACCESS_DENIED, "Invalid session")
        results: dict[str, Variant] = {}
        if self.bind_response == 0:
            if not self.bind_leaves_out_shortcuts:
                session.shortcuts = {
                    str(shortcut_id): {key: value.value for key, value in info.items()}
                    for shortcut_id, info in shortcuts
                }
            session.bound = True
            results["shortcuts"] = Variant("a(sa{sv})", self._described(session))
            self._bound.set()
        return self._answer(msg, "BindShortcuts", options, self.bind_response, results)

    def _list_shortcuts(self, msg: Message) -> Message:
        session_handle, options = msg.body
        session = self._sessions.get(str(session_handle))
        if session is None or session.sender != msg.sender:
            return Message.new_error(msg, _ERROR_ACCESS_DENIED, "Invalid session")
        results = {"shortcuts": Variant("a(sa{sv})", self._described(session))}
        return self._answer(msg, "ListShortcuts", options, 0, results)

    def _described(self, session: _Session) -> list[list[Any]]:
        return [
            [
                shortcut_id,
                {
                    "description": Variant("s", str(info.get("description", ""))),
                    "trigger_description": Variant("s", self.trigger_description),
                },
            ]
            for shortcut_id, info in session.shortcuts.items()
        ]


def _timestamp_ms() -> int:
    return time.monotonic_ns() // 1_000_000
