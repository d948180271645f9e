"""Dialtone protocol types (HTTP, WebSocket, IPC) as attrs classes with one cattrs converter."""

__version__ = "0.1.0"
