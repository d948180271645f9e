"""Dialtone's end-to-end encryption primitives: sealed fields, envelopes, signatures, fingerprints."""

__version__ = "0.1.0"
