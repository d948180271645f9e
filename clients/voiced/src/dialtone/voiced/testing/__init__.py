"""Test helpers for the voice daemon, against real programs (reusable by other suites).

- `private_pulseaudio` / `PulseAudio`: a private PulseAudio with null sinks as microphones and
  speakers, keep-alive readers, playback and recording (`Recorder`).
- `private_coturn` / `Coturn`: coturn on loopback with TURN REST credentials.
- `running_daemon` / `DaemonProcess`: ``dialtone-voiced`` as a child process.
- `IpcClient`: a TUI stand-in on the IPC socket; `SignalingRelay`: relays signaling between daemons.
- `tone`, `dominant_frequency`, `rms_dbfs`, `onset`: test signals and their analysis.

Example (two daemons, A's microphone heard at B's speaker)::

    with private_pulseaudio() as pulse, private_coturn() as turn:
        for sink in ("mic_a", "spk_a", "mic_b", "spk_b"):
            pulse.add_null_sink(sink)
        with running_daemon(dir / "a.sock", ["--vad"], env=pulse.device_env("mic_a", "spk_a")):
            ...
"""

from dialtone.voiced.testing.audio import dominant_frequency, onset, rms_dbfs, tone
from dialtone.voiced.testing.client import IpcClient
from dialtone.voiced.testing.coturn import Coturn, private_coturn, turn_rest_credentials
from dialtone.voiced.testing.process import DaemonProcess, daemon_command, running_daemon
from dialtone.voiced.testing.pulse import PulseAudio, Recorder, private_pulseaudio
from dialtone.voiced.testing.relay import Member, SignalingRelay

__all__ = [
    "Coturn",
    "DaemonProcess",
    "IpcClient",
    "Member",
    "PulseAudio",
    "Recorder",
    "SignalingRelay",
    "daemon_command",
    "dominant_frequency",
    "onset",
    "private_coturn",
    "private_pulseaudio",
    "rms_dbfs",
    "running_daemon",
    "tone",
    "turn_rest_credentials",
]
