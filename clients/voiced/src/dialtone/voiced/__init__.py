"""Dialtone voice daemon: microphone, VAD, push-to-talk and WebRTC."""

__version__ = "0.1.0"
