"""Push-to-talk backends: XDG Desktop Portal GlobalShortcuts, pynput hotkey, VAD fallback."""

__version__ = "0.1.0"
