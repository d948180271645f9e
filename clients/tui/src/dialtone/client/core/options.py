"""`ClientOptions`: everything the client core needs to know before it starts.

`__main__.py` (the TUI's) maps command-line flags onto one `ClientOptions` and hands it to
`ClientCore`. The first section belongs to the core; the TUI engineer adds the TUI's own fields in
the second section (keep defaults on every field so either side can add fields freely).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from dialtone.keystore import DEFAULT_PARAMS, ScryptParams

__all__ = ["ClientOptions"]


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Settings of one client core (one server, one user at a time).

    Attributes:
        server_url: The server's base URL, e.g. ``https://chat.example.org`` (``/v1`` is added).
        data_dir: Where keystore profiles live; None for the XDG default
            (``$XDG_DATA_HOME/dialtone/profiles``).
        keystore_params: scrypt parameters for new keystores (tests pass cheap ones).
        client_name: Sent in the WebSocket ``hello``.
        request_timeout: Seconds before an HTTP request is abandoned.
        reconnect_initial_delay: First reconnect delay in seconds; doubles per failed attempt.
        reconnect_max_delay: Upper bound of the reconnect delay in seconds.
        history_page_size: Messages fetched per history page (1-200).
        decrypt_batch_size: Messages verified and decrypted per worker-thread batch.
        outbox_limit: Most messages held in the offline queue; sending more raises
            `OutboxFullError`.
        approval_poll_interval: Seconds between checks of whether a new (pending) device was
            approved yet.
        voice_ipc_path: The voice daemon's Unix socket; None for
            ``$XDG_RUNTIME_DIR/dialtone/voiced.sock``.
        voice_stun_urls: Extra STUN URLs handed to the voice daemon (besides the server's).
        voice_turn_urls: TURN URLs overriding the server's (the server's credentials are used).
        voice_relay_only: Ask the daemon to use TURN relays only (hides host addresses).
        theme: (TUI) The Textual theme; ``ansi-dark`` uses the terminal's own colours.
        username: (TUI) The username to suggest on the connect screen.
        invite_token: (TUI) An invite to pre-fill on the register screen.
        notify: (TUI) How mentions in another channel are signalled: ``bell``, ``desktop``
            (org.freedesktop.Notifications, opt-in) or ``off``.
        voice_auto: (TUI) Start ``dialtone-voiced`` and attach to it.
        voiced_command: (TUI) The daemon's command (``--voiced``).
        voice_debug: (TUI) Start the daemon with debug logging.
        voice_log: (TUI) The daemon's log file.
        voice_ptt: (TUI) The push-to-talk key, or None for none.
        voice_ptt_backend: (TUI) ``auto``, ``portal`` or ``hotkey``.
        voice_vad: (TUI) Voice activity detection decides when to send.
        voice_meter: (TUI) Show the microphone level.
    """

    # --- core section (owned by the client core) ------------------------------------------------
    server_url: str
    data_dir: Path | None = None
    keystore_params: ScryptParams = DEFAULT_PARAMS
    client_name: str = "dialtone-client"
    request_timeout: float = attrs.field(default=15.0, validator=_positive)
    reconnect_initial_delay: float = attrs.field(default=0.5, validator=_positive)
    reconnect_max_delay: float = attrs.field(default=30.0, validator=_positive)
    history_page_size: int = attrs.field(
        default=50, validator=[attrs.validators.ge(1), attrs.validators.le(200)]
    )
    decrypt_batch_size: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    outbox_limit: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    approval_poll_interval: float = attrs.field(default=3.0, validator=_positive)
    voice_ipc_path: Path | None = None
    voice_stun_urls: tuple[str, ...] = ()
    voice_turn_urls: tuple[str, ...] = ()
    voice_relay_only: bool = False

    # --- TUI section (owned by the TUI engineer) ------------------------------------------------
    # Read by the TUI only (dialtone.client.app); the core ignores them.
    theme: str = "ansi-dark"
    username: str | None = None
    invite_token: str | None = attrs.field(default=None, repr=False)
    notify: str = attrs.field(
        default="bell", validator=attrs.validators.in_(("bell", "desktop", "off"))
    )
    voice_auto: bool = False
    voiced_command: str = "dialtone-voiced"
    voice_debug: bool = False
    voice_log: Path | None = None
    voice_ptt: str | None = None
    voice_ptt_backend: str = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "portal", "hotkey"))
    )
    voice_vad: bool = False
    voice_meter: bool = False
