"""Dialtone server: HTTP + WebSocket on PostgreSQL, storing and routing only ciphertext."""

__version__ = "0.1.0"
