"""The one exception every malformed, unknown or oversize input becomes."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Machine-readable reason of a `ProtocolError`; the values are part of the protocol."""

    MALFORMED = "malformed"
    """The input is not UTF-8 JSON (or not one line of it)."""
    TOO_LARGE = "too_large"
    """The whole frame, line or body is over its size limit."""
    BAD_LENGTH = "bad_length"
    """A string, byte string or list is longer (or shorter) than its field allows."""
    MISSING_TYPE = "missing_type"
    """An event or command has no ``type`` tag."""
    UNKNOWN_TYPE = "unknown_type"
    """The ``type`` tag names no event or command of this direction."""
    UNKNOWN_FIELD = "unknown_field"
    """An object carries a field its type does not define."""
    MISSING_FIELD = "missing_field"
    """A required field is absent."""
    WRONG_TYPE = "wrong_type"
    """A value has the wrong JSON type (a number for a string, a list for an object...)."""
    BAD_VALUE = "bad_value"
    """A value has the right JSON type but is out of range, off its pattern or not in its enum."""
    BAD_ENCODING = "bad_encoding"
    """A byte field is not canonical base64url without padding."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """No protocol version is shared by both sides."""


class ProtocolError(Exception):
    """Input that does not follow the Dialtone wire protocol.

    Every decoding failure of `dialtone.wire` (bad JSON, unknown type tag, unknown or missing field,
    wrong JSON type, bad value, oversize input) raises this and only this, so a server can turn it
    into one error reply and a daemon can answer it without crashing.

    Attributes:
        reason: The machine-readable `Reason`.
        detail: A short human explanation, without the path.
        path: Where in the document the problem is, JSONPath-like (``$.message.sealed_body``);
            empty when the problem is the document as a whole.
    """

    __slots__ = ("detail", "path", "reason")

    def __init__(self, reason: Reason, detail: str, path: str = "") -> None:
        """Create the error.

        Args:
            reason: The machine-readable reason.
            detail: A short human explanation, without the path.
            path: The location of the problem (``$.field[3].other``), or empty.
        """
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The human message: the path (when known) and the detail."""
        return f"{self.path}: {self.detail}" if self.path else self.detail

    def under(self, prefix: str) -> ProtocolError:
        """Return the same error located below `prefix` (``$`` or ``.field`` or ``[3]``).

        Args:
            prefix: The path of the enclosing value.

        Returns:
            A new error whose path is `prefix` followed by this error's path.
        """
        return ProtocolError(self.reason, self.detail, prefix + self.path)

    def __reduce__(self) -> tuple[type[ProtocolError], tuple[Reason, str, str]]:
        return (ProtocolError, (self.reason, self.detail, self.path))

    def __repr__(self) -> str:
        return f"ProtocolError({self.reason.value!r}, {self.message!r})"
