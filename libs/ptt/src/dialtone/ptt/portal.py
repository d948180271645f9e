"""Push-to-talk through the XDG Desktop Portal's ``org.freedesktop.portal.GlobalShortcuts``.

The Wayland way to get a key press while another window has focus: the compositor owns the
keyboard, and the portal lets the user bind a shortcut for us. The conversation, over the D-Bus
session bus with dbus-next:

1. ``Properties.Get(GlobalShortcuts, "version")`` -- the portal is there, implements the interface,
   and is recent enough (`MIN_PORTAL_VERSION`).
2. ``CreateSession`` then ``BindShortcuts`` (``a(sa{sv})``: our shortcut id with a ``description``
   and a ``preferred_trigger``). Each returns at once with a Request object path; the result comes
   later in that object's ``org.freedesktop.portal.Request::Response`` signal (code 0 success,
   1 the user cancelled, 2 otherwise ended). The path is computable in advance -- our unique name
   without ``:`` and with ``.`` as ``_``, plus the ``handle_token`` we pass -- so we subscribe to
   it BEFORE calling: a Response that overtakes the method reply is not lost.
3. ``Activated`` / ``Deactivated`` (``o s t a{sv}``) for our session and shortcut id become
   pressed / released. ``Session::Closed`` (the user revoked it) or losing the bus ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final, cast

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageFlag, MessageType
from dbus_next.message import Message
from dbus_next.signature import Variant

from dialtone.ptt.environment import session_bus_address
from dialtone.ptt.errors import PortalDeclinedError, PortalUnavailableError, PortalVersionError
from dialtone.ptt.events import DEFAULT_QUEUE_SIZE, EventChannel, PttEvent
from dialtone.ptt.keys import DEFAULT_KEY, KeySpec, parse_key_spec

__all__ = [
    "DEFAULT_SHORTCUT_ID",
    "GLOBAL_SHORTCUTS_INTERFACE",
    "MIN_PORTAL_VERSION",
    "PORTAL_BUS_NAME",
    "PORTAL_OBJECT_PATH",
    "REQUEST_INTERFACE",
    "SESSION_INTERFACE",
    "PortalBackend",
    "request_path",
    "session_path",
]

log = logging.getLogger(__name__)

PORTAL_BUS_NAME: Final = "org.freedesktop.portal.Desktop"
PORTAL_OBJECT_PATH: Final = "/org/freedesktop/portal/desktop"
GLOBAL_SHORTCUTS_INTERFACE: Final = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_INTERFACE: Final = "org.freedesktop.portal.Request"
SESSION_INTERFACE: Final = "org.freedesktop.portal.Session"
MIN_PORTAL_VERSION: Final = 1
"""GlobalShortcuts version 1 has everything used here (version 2 only adds ConfigureShortcuts)."""

DEFAULT_SHORTCUT_ID: Final = "push-to-talk"
DEFAULT_DESCRIPTION: Final = "Dialtone push-to-talk (hold to speak)"

_DBUS_NAME: Final = "org.freedesktop.DBus"
_DBUS_PATH: Final = "/org/freedesktop/DBus"
_PROPERTIES_INTERFACE: Final = "org.freedesktop.DBus.Properties"

_NOT_ON_BUS_ERRORS: Final = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    }
)
_NO_INTERFACE_ERRORS: Final = frozenset(
    {
        "org.freedesktop.DBus.Error.UnknownInterface",
        "org.freedesktop.DBus.Error.UnknownProperty",
        "org.freedesktop.DBus.Error.UnknownObject",
        "org.freedesktop.DBus.Error.UnknownMethod",
        # GDBus (xdg-desktop-portal itself) answers a Get on an interface it lacks this way.
        "org.freedesktop.DBus.Error.InvalidArgs",
    }
)


def _sender_element(unique_name: str) -> str:
    return unique_name.removeprefix(":").replace(".", "_")


def request_path(unique_name: str, handle_token: str) -> str:
    """The Request object path the portal uses for a call made with ``handle_token``.

    Args:
        unique_name: The caller's unique bus name (``:1.42``).
        handle_token: The ``handle_token`` option of the call.

    Returns:
        ``/org/freedesktop/portal/desktop/request/1_42/<handle_token>``.
    """
    return f"{PORTAL_OBJECT_PATH}/request/{_sender_element(unique_name)}/{handle_token}"


def session_path(unique_name: str, session_handle_token: str) -> str:
    """The Session object path the portal uses for ``session_handle_token``.

    Args:
        unique_name: The caller's unique bus name.
        session_handle_token: The ``session_handle_token`` option of ``CreateSession``.

    Returns:
        ``/org/freedesktop/portal/desktop/session/1_42/<session_handle_token>``.
    """
    return f"{PORTAL_OBJECT_PATH}/session/{_sender_element(unique_name)}/{session_handle_token}"


def _new_token() -> str:
    # Unique and unguessable, with a per-library prefix, as the Request documentation asks.
    return f"dialtone_ptt_{secrets.token_hex(8)}"


def _match_rule(**fields: str) -> str:
    return ",".join(["type='signal'", *(f"{key}='{value}'" for key, value in fields.items())])


class PortalBackend:
    """Push-to-talk from a GlobalShortcuts portal shortcut (Wayland, or any desktop with a portal).

    Example::

        backend = PortalBackend(env=os.environ)
        await backend.start()          # may show the desktop's "allow shortcut" dialog
        async for event in backend.events():
            ...
        await backend.stop()
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        key: KeySpec | str | None = DEFAULT_KEY,
        shortcut_id: str = DEFAULT_SHORTCUT_ID,
        description: str = DEFAULT_DESCRIPTION,
        call_timeout: float = 10.0,
        response_timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        """Prepare the backend; nothing touches the bus until `start`.

        Args:
            env: The environment, for the session bus address (``DBUS_SESSION_BUS_ADDRESS``, or
                ``$XDG_RUNTIME_DIR/bus``).
            key: The key suggested to the portal as ``preferred_trigger`` (the user and the
                desktop decide the real one), or None to suggest nothing.
            shortcut_id: The id of our shortcut within the session.
            description: What the desktop shows the user for the shortcut.
            call_timeout: Seconds to wait for the bus and for each method reply.
            response_timeout: Seconds to wait for a Request's Response; it may wait on the user
                answering a dialog.
            clock: Source of `PttEvent.at`.
            queue_size: Undelivered events kept for a slow consumer.

        Raises:
            dialtone.ptt.errors.InvalidKeySpecError: If ``key`` is a string that does not parse.
        """
        self._env = env
        self._key = parse_key_spec(key) if isinstance(key, str) else key
        self._shortcut_id = shortcut_id
        self._description = description
        self._call_timeout = call_timeout
        self._response_timeout = response_timeout
        self._clock = clock
        self._channel = EventChannel(queue_size)
        # Any: dbus-next's MessageBus is only partly annotated (disconnect() and others are not).
        self._bus: Any = None
        self._portal_owner: str | None = None
        self._pending: dict[str, asyncio.Future[tuple[int, dict[str, Any]]]] = {}
        self._session_handle: str | None = None
        self._version: int | None = None
        self._trigger_description: str | None = None
        self._bound = False
        self._ended: str | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False

    @property
    def name(self) -> str:
        """Always ``"portal"``."""
        return "portal"

    @property
    def dropped(self) -> int:
        """Events dropped because the consumer fell behind."""
        return self._channel.dropped

    @property
    def version(self) -> int | None:
        """The portal's GlobalShortcuts version, once `start` has read it."""
        return self._version

    @property
    def session_handle(self) -> str | None:
        """The portal session's object path, once created."""
        return self._session_handle

    @property
    def trigger_description(self) -> str | None:
        """How the desktop describes the bound trigger (``"Ctrl+Space"``), if it said."""
        return self._trigger_description

    @property
    def ended(self) -> str | None:
        """Why the event stream ended on its own (session closed, bus lost), if it did."""
        return self._ended

    def describe(self) -> str:
        """One sentence on the binding, for logs and the TUI.

        Returns:
            E.g. ``portal: GlobalShortcuts v1 shortcut 'push-to-talk' bound to Ctrl+Space``.
        """
        if not self._bound:
            return f"portal: GlobalShortcuts shortcut {self._shortcut_id!r} (not bound)"
        trigger = self._trigger_description or "a key chosen in the desktop's settings"
        text = (
            f"portal: GlobalShortcuts v{self._version} shortcut {self._shortcut_id!r} "
            f"bound to {trigger}"
        )
        return f"{text} (ended: {self._ended})" if self._ended else text

    def events(self) -> AsyncIterator[PttEvent]:
        """Pressed/released events for our shortcut until the backend stops.

        Returns:
            An async iterator of `PttEvent`.
        """
        return aiter(self._channel)

    async def start(self) -> None:
        """Connect, check the portal, create a session and bind the shortcut.

        Raises:
            PortalUnavailableError: No session bus, no portal on it, no GlobalShortcuts interface, a
                protocol violation, or no answer in time.
            PortalVersionError: The interface's ``version`` is below `MIN_PORTAL_VERSION`.
            PortalDeclinedError: The user (or portal) declined the session or the shortcut.
            RuntimeError: If called twice.
        """
        if self._started:
            raise RuntimeError("PortalBackend.start() may only be called once")
        self._started = True
        try:
            await self._start()
        except BaseException:
            await self._disconnect()
            self._channel.close(self._clock())  # a backend that did not start has no events
            raise
        self._watcher = asyncio.get_running_loop().create_task(self._watch_bus())
        log.info("%s", self.describe())

    async def _start(self) -> None:
        address = session_bus_address(self._env)
        if address is None:
            raise PortalUnavailableError(
                "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and "
                "$XDG_RUNTIME_DIR/bus does not exist, so the XDG Desktop Portal cannot be reached"
            )
        self._bus = await self._connect(address)
        self._bus.add_message_handler(self._on_message)
        self._version = await self._read_version()
        self._portal_owner = await self._name_owner()
        await self._add_match(
            _match_rule(
                sender=PORTAL_BUS_NAME,
                interface=GLOBAL_SHORTCUTS_INTERFACE,
                path=PORTAL_OBJECT_PATH,
            )
        )
        self._session_handle = await self._create_session()
        await self._add_match(
            _match_rule(
                sender=PORTAL_BUS_NAME,
                interface=SESSION_INTERFACE,
                member="Closed",
                path=self._session_handle,
            )
        )
        await self._bind_shortcut(self._session_handle)
        self._bound = True

    async def stop(self) -> None:
        """Close the portal session, leave the bus and end the event stream (idempotent)."""
        if self._stopping:
            return
        self._stopping = True
        if self._bus is not None and self._session_handle is not None and self._ended is None:
            # Leaving the bus closes our sessions too; closing first is the polite, explicit way.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._bus.call(
                        Message(
                            destination=PORTAL_BUS_NAME,
                            path=self._session_handle,
                            interface=SESSION_INTERFACE,
                            member="Close",
                        )
                    ),
                    self._call_timeout,
                )
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self._disconnect()
        self._channel.close(self._clock())

    # --- bus plumbing ----------------------------------------------------------------------------

    async def _connect(self, address: str) -> Any:
        try:
            # The constructor already opens the socket (and raises for a dead or bad address).
            bus: Any = MessageBus(bus_address=address)
        except Exception as exc:
            raise PortalUnavailableError(
                f"cannot connect to the D-Bus session bus at {address}: {exc or type(exc).__name__}"
            ) from exc
        try:
            return await asyncio.wait_for(bus.connect(), self._call_timeout)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                bus.disconnect()
            if isinstance(exc, TimeoutError):
                raise PortalUnavailableError(
                    f"the D-Bus session bus at {address} did not answer within "
                    f"{self._call_timeout} s"
                ) from None
            if isinstance(exc, Exception):
                raise PortalUnavailableError(
                    f"the D-Bus session bus at {address} refused us: {exc or type(exc).__name__}"
                ) from exc
            raise

    async def _disconnect(self) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        bus.remove_message_handler(self._on_message)
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        bus.disconnect()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.wait_for_disconnect(), self._call_timeout)

    async def _watch_bus(self) -> None:
        bus = self._bus
        with contextlib.suppress(Exception):
            # Shielded: cancelling this watcher must not cancel dbus-next's own disconnect future.
            await asyncio.shield(bus.wait_for_disconnect())
        if not self._stopping:
            self._end("the D-Bus session bus connection was lost")

    def _end(self, why: str) -> None:
        if self._ended is None:
            self._ended = why
            log.warning("portal push-to-talk ended: %s", why)
        self._channel.close(self._clock())

    async def _call(self, message: Message, what: str) -> Message:
        try:
            reply = await asyncio.wait_for(self._bus.call(message), self._call_timeout)
        except TimeoutError:
            raise PortalUnavailableError(
                f"the portal did not answer {what} within {self._call_timeout} s"
            ) from None
        except Exception as exc:
            raise PortalUnavailableError(f"{what} failed on the D-Bus session bus: {exc}") from exc
        return cast(Message, reply)

    @staticmethod
    def _error_of(reply: Message) -> tuple[str, str] | None:
        if reply.message_type is not MessageType.ERROR:
            return None
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        return str(reply.error_name), text

    async def _call_dbus(self, member: str, signature: str, body: list[Any]) -> Message:
        return await self._call(
            Message(
                destination=_DBUS_NAME,
                path=_DBUS_PATH,
                interface=_DBUS_NAME,
                member=member,
                signature=signature,
                body=body,
            ),
            f"org.freedesktop.DBus.{member}",
        )

    async def _add_match(self, rule: str) -> None:
        # Awaited: the rule must be in force at the bus before the call whose signal it is for.
        reply = await self._call_dbus("AddMatch", "s", [rule])
        error = self._error_of(reply)
        if error is not None:
            raise PortalUnavailableError(
                f"the session bus refused a signal subscription: {error[1]}"
            )

    def _remove_match(self, rule: str) -> None:
        if self._bus is None:
            return
        # Fire and forget: a failure only leaves a harmless rule until we disconnect.
        self._send_no_reply(
            Message(
                destination=_DBUS_NAME,
                path=_DBUS_PATH,
                interface=_DBUS_NAME,
                member="RemoveMatch",
                signature="s",
                body=[rule],
                flags=MessageFlag.NO_REPLY_EXPECTED,
            )
        )

    def _send_no_reply(self, message: Message) -> None:
        if self._bus is None:
            return
        sent: asyncio.Future[None] = self._bus.send(message)
        # Retrieve a send failure (bus gone) so asyncio does not log it as never retrieved.
        sent.add_done_callback(lambda f: None if f.cancelled() else f.exception())

    # --- the portal conversation -----------------------------------------------------------------

    async def _read_version(self) -> int:
        reply = await self._call(
            Message(
                destination=PORTAL_BUS_NAME,
                path=PORTAL_OBJECT_PATH,
                interface=_PROPERTIES_INTERFACE,
                member="Get",
                signature="ss",
                body=[GLOBAL_SHORTCUTS_INTERFACE, "version"],
            ),
            "reading the GlobalShortcuts version",
        )
        error = self._error_of(reply)
        if error is not None:
            name, text = error
            if name in _NOT_ON_BUS_ERRORS:
                raise PortalUnavailableError(
                    f"the XDG Desktop Portal ({PORTAL_BUS_NAME}) is not on the session bus: "
                    "install xdg-desktop-portal with a backend that implements GlobalShortcuts "
                    f"(for example KDE Plasma, or GNOME 48 and later) [{name}]"
                )
            if name in _NO_INTERFACE_ERRORS:
                raise PortalUnavailableError(
                    "the XDG Desktop Portal on this session does not implement "
                    f"{GLOBAL_SHORTCUTS_INTERFACE}; the desktop's portal backend has no global "
                    f"shortcuts [{name}: {text}]"
                )
            raise PortalUnavailableError(
                f"reading the GlobalShortcuts version failed: {name}: {text}"
            )
        value = reply.body[0] if reply.signature == "v" else None
        if not isinstance(value, Variant) or value.signature != "u":
            raise PortalUnavailableError(
                "the portal's GlobalShortcuts version is not an unsigned integer "
                f"(reply signature {reply.signature!r})"
            )
        version = int(value.value)
        if version < MIN_PORTAL_VERSION:
            raise PortalVersionError(
                f"the portal's GlobalShortcuts interface is version {version}; "
                f"push-to-talk needs version {MIN_PORTAL_VERSION} or later",
                version=version,
                required=MIN_PORTAL_VERSION,
            )
        return version

    async def _name_owner(self) -> str:
        # Signals carry the sender's unique name; knowing it lets us ignore look-alike signals.
        reply = await self._call_dbus("GetNameOwner", "s", [PORTAL_BUS_NAME])
        error = self._error_of(reply)
        if error is not None or reply.signature != "s":
            raise PortalUnavailableError(
                f"the XDG Desktop Portal left the session bus while starting ({error})"
            )
        return str(reply.body[0])

    async def _create_session(self) -> str:
        results = await self._request(
            "CreateSession",
            "the portal session",
            signature="",
            body=[],
            options={"session_handle_token": Variant("s", _new_token())},
        )
        handle = results.get("session_handle")
        value = handle.value if isinstance(handle, Variant) else None
        if not isinstance(value, str) or not value.startswith("/"):
            raise PortalUnavailableError(
                "the portal's CreateSession response has no session_handle object path"
            )
        return value

    async def _bind_shortcut(self, session: str) -> None:
        options: dict[str, Variant] = {"description": Variant("s", self._description)}
        trigger = self._key.xdg_trigger() if self._key is not None else None
        if trigger is not None:
            options["preferred_trigger"] = Variant("s", trigger)
        results = await self._request(
            "BindShortcuts",
            "the push-to-talk shortcut",
            signature="oa(sa{sv})s",
            body=[session, [[self._shortcut_id, options]], ""],
            options={},
        )
        bound = results.get("shortcuts")
        if bound is None:
            return
        if not isinstance(bound, Variant) or bound.signature != "a(sa{sv})":
            raise PortalUnavailableError("the portal's BindShortcuts response has a malformed list")
        for shortcut_id, info in bound.value:
            if shortcut_id == self._shortcut_id:
                described = info.get("trigger_description")
                if isinstance(described, Variant) and described.signature == "s":
                    self._trigger_description = str(described.value) or None
                return
        raise PortalDeclinedError(
            f"the portal did not bind the push-to-talk shortcut {self._shortcut_id!r} "
            "(it was left out of the bound shortcuts, e.g. the user removed it)",
            method="BindShortcuts",
            response_code=0,
        )

    async def _request(
        self,
        method: str,
        what: str,
        *,
        signature: str,
        body: list[Any],
        options: dict[str, Variant],
    ) -> dict[str, Any]:
        """Call a portal method the Request/Response way and return the Response's results.

        ``signature`` and ``body`` are the arguments before the trailing ``options`` vardict,
        which gets our ``handle_token``.
        """
        token = _new_token()
        expected = request_path(str(self._bus.unique_name), token)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, dict[str, Any]]] = loop.create_future()
        paths = [expected]
        self._pending[expected] = future
        rules = [self._response_rule(expected)]
        try:
            await self._add_match(rules[0])
            reply = await self._call(
                Message(
                    destination=PORTAL_BUS_NAME,
                    path=PORTAL_OBJECT_PATH,
                    interface=GLOBAL_SHORTCUTS_INTERFACE,
                    member=method,
                    signature=f"{signature}a{{sv}}",
                    body=[*body, {**options, "handle_token": Variant("s", token)}],
                ),
                f"GlobalShortcuts.{method}",
            )
            error = self._error_of(reply)
            if error is not None:
                raise PortalUnavailableError(
                    f"GlobalShortcuts.{method} failed: {error[0]}: {error[1]}"
                )
            handle = str(reply.body[0])
            if handle != expected:
                # Portals older than 0.9 chose the path themselves: follow the one returned.
                log.debug("portal returned request %s, expected %s", handle, expected)
                paths.append(handle)
                self._pending[handle] = future
                rules.append(self._response_rule(handle))
                await self._add_match(rules[-1])
            try:
                code, results = await asyncio.wait_for(
                    asyncio.shield(future), self._response_timeout
                )
            except TimeoutError:
                self._close_request(handle)
                raise PortalUnavailableError(
                    f"the portal did not answer the {method} request within "
                    f"{self._response_timeout} s"
                ) from None
        finally:
            for path in paths:
                self._pending.pop(path, None)
            for rule in rules:
                self._remove_match(rule)
        if code != 0:
            raise PortalDeclinedError(
                _declined_reason(method, what, code), method=method, response_code=code
            )
        return results

    @staticmethod
    def _response_rule(path: str) -> str:
        return _match_rule(
            sender=PORTAL_BUS_NAME, interface=REQUEST_INTERFACE, member="Response", path=path
        )

    def _close_request(self, handle: str) -> None:
        self._send_no_reply(
            Message(
                destination=PORTAL_BUS_NAME,
                path=handle,
                interface=REQUEST_INTERFACE,
                member="Close",
                flags=MessageFlag.NO_REPLY_EXPECTED,
            )
        )

    # --- incoming signals ------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        if message.message_type is not MessageType.SIGNAL:
            return
        if self._portal_owner is None or message.sender != self._portal_owner:
            return
        if message.interface == REQUEST_INTERFACE and message.member == "Response":
            self._on_response(message)
        elif message.interface == GLOBAL_SHORTCUTS_INTERFACE and message.member in (
            "Activated",
            "Deactivated",
        ):
            self._on_shortcut(message, pressed=message.member == "Activated")
        elif (
            message.interface == SESSION_INTERFACE
            and message.member == "Closed"
            and message.path == self._session_handle
        ):
            self._end("the portal closed the push-to-talk session")

    def _on_response(self, message: Message) -> None:
        future = self._pending.get(str(message.path))
        if future is None or future.done():
            return
        if message.signature != "ua{sv}":
            future.set_exception(
                PortalUnavailableError(
                    f"malformed Request::Response (signature {message.signature!r})"
                )
            )
            return
        code, results = message.body
        future.set_result((int(code), dict(results)))

    def _on_shortcut(self, message: Message, *, pressed: bool) -> None:
        if message.path != PORTAL_OBJECT_PATH or not str(message.signature).startswith("ost"):
            return
        session, shortcut_id = message.body[0], message.body[1]
        if session == self._session_handle and shortcut_id == self._shortcut_id:
            self._channel.publish(pressed, self._clock())


def _declined_reason(method: str, what: str, code: int) -> str:
    if code == 1:
        return (
            f"the user declined {what} in the desktop's portal dialog "
            f"(GlobalShortcuts.{method} Response code 1)"
        )
    if code == 2:
        return (
            f"the portal ended the request for {what} without granting it "
            f"(GlobalShortcuts.{method} Response code 2)"
        )
    return f"the portal refused {what} (GlobalShortcuts.{method} Response code {code})"
