"""Dialtone terminal client (Textual), where all encryption happens."""

__version__ = "0.1.0"
