"""Dialtone's encrypted local keystore (scrypt + AES-256-GCM)."""

__version__ = "0.1.0"
