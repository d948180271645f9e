"""Tunables of the realtime side, derived once from `ServerConfig`."""

from __future__ import annotations

import attrs

from dialtone.server.config import ServerConfig
from dialtone.wire import limits


@attrs.frozen(kw_only=True)
class RealtimeSettings:
    """Limits and timings of `/v1/ws` and of the replica link.

    Attributes:
        heartbeat: Seconds between the server's `ping` events.
        idle_timeout: Seconds without any frame from a client before it is closed (4004).
        hello_timeout: Seconds a new connection has to send `hello`.
        close_timeout: Seconds allowed for queued frames and the close handshake when closing.
        send_queue_limit: Frames that may wait for a slow client before it is disconnected.
        max_frame_bytes: Largest frame accepted from a client.
        replay_limit: Messages replayed per channel on resume before the channel is reported as
            truncated (the client pages the rest over HTTP).
        replay_page: Messages read from the database per query during a replay.
        commit_batch: Most messages of one channel stored in one transaction.
        max_inflight_sends: Messages one connection may have waiting to be stored.
        event_rate: Events per second a connection may send, sustained.
        event_burst: Events a connection may send at once.
        typing_interval: Seconds during which repeated typing notices of one device and channel
            are folded into one (clients show typing for `TYPING_TTL_MS`).
        replica_heartbeat: Seconds between a replica's "still here" signals.
        replica_expiry: Seconds of silence after which another replica counts as gone.
        shutdown_grace: Seconds the graceful shutdown waits for in-flight messages to be stored.
        reconnect_spread_ms: Clients are told to reconnect after a random delay up to this.
    """

    heartbeat: float = 30.0
    idle_timeout: float = 75.0
    hello_timeout: float = 10.0
    close_timeout: float = 5.0
    send_queue_limit: int = 1024
    max_frame_bytes: int = limits.MAX_WS_FRAME_BYTES
    replay_limit: int = 2000
    replay_page: int = 200
    commit_batch: int = 256
    max_inflight_sends: int = 256
    event_rate: float = 200.0
    event_burst: int = 400
    typing_interval: float = 1.0
    replica_heartbeat: float = 5.0
    replica_expiry: float = 15.0
    shutdown_grace: float = 10.0
    reconnect_spread_ms: int = 2000

    @classmethod
    def from_config(cls, config: ServerConfig) -> RealtimeSettings:
        """Derive the settings from the server configuration.

        The idle timeout is two and a half heartbeats (a live client answers every `ping`), and the
        replica heartbeat follows the client heartbeat down to short test values.

        Args:
            config: The validated configuration.

        Returns:
            The settings.
        """
        heartbeat = config.ws_heartbeat_seconds
        replica_heartbeat = min(5.0, heartbeat)
        return cls(
            heartbeat=heartbeat,
            idle_timeout=heartbeat * 2.5,
            hello_timeout=min(10.0, heartbeat * 2.5),
            send_queue_limit=config.ws_send_queue_limit,
            max_frame_bytes=min(config.ws_max_frame_bytes, limits.MAX_WS_FRAME_BYTES),
            replica_heartbeat=replica_heartbeat,
            replica_expiry=replica_heartbeat * 3,
        )
