"""What can go wrong in the daemon: one exception per failure kind.

Failures while serving (`VoicedError` and its subclasses) carry the IPC error code the TUI gets in
an ``error`` event; the daemon reports them and keeps running. `ConfigError` is the one failure
that stops the daemon, before it serves anything, with one line on stderr.
"""

from __future__ import annotations

from dialtone.wire.ipc import IpcErrorCode

__all__ = [
    "AudioFailedError",
    "ConfigError",
    "IceFailedError",
    "NoAudioDeviceError",
    "NotIdentifiedError",
    "NotInVoiceError",
    "PeerNegotiationError",
    "PttUnavailableError",
    "SocketInUseError",
    "TurnUnavailableError",
    "VoicedError",
]


class ConfigError(Exception):
    """A flag or environment value the daemon cannot start with.

    The message is one line meant for the user (``--bitrate must be ...``); ``dialtone-voiced``
    prints it and exits with status 2, without a traceback.
    """


class SocketInUseError(ConfigError):
    """Another process is already serving on the IPC socket path."""


class VoicedError(Exception):
    """A failure reported to the TUI as an ``error`` event; the daemon stays up.

    Attributes:
        code: The `IpcErrorCode` of the event.
        message: One human sentence, reported as is.
    """

    code: IpcErrorCode = IpcErrorCode.INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        """Create the error.

        Args:
            message: The human explanation.
        """
        super().__init__(message)
        self.message = message


class NoAudioDeviceError(VoicedError):
    """No capture or playback device can be opened (no PortAudio, no sound server, bad device)."""

    code = IpcErrorCode.NO_AUDIO_DEVICE


class AudioFailedError(VoicedError):
    """An audio stream that was running stopped on its own (device unplugged, server gone)."""

    code = IpcErrorCode.AUDIO_FAILED


class TurnUnavailableError(VoicedError):
    """Relay-only mode without a usable TURN server (none configured, or no allocation)."""

    code = IpcErrorCode.TURN_UNAVAILABLE


class IceFailedError(VoicedError):
    """A peer connection did not come up in time, went down (ICE or DTLS), or no offer came."""

    code = IpcErrorCode.ICE_FAILED


class NotIdentifiedError(VoicedError):
    """A command other than ``identify`` or ``ping`` came before ``identify``."""

    code = IpcErrorCode.NOT_IDENTIFIED


class NotInVoiceError(VoicedError):
    """A command needs a voice room and the daemon is not in that one."""

    code = IpcErrorCode.NOT_IN_VOICE


class PeerNegotiationError(VoicedError):
    """An offer, answer or ICE candidate could not be applied to a peer connection."""

    code = IpcErrorCode.PEER_FAILED


class PttUnavailableError(VoicedError):
    """The push-to-talk backend asked for cannot run, or stopped; nothing is transmitted."""

    code = IpcErrorCode.PTT_UNAVAILABLE
