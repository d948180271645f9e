"""Every cattrs hook of the wire protocol, registered by `register_hooks` (lsprotocol's pattern).

Structure hooks are strict: JSON types are checked exactly (no ``"1"`` for 1, no ``true`` for 1, no
string for a list), bounds from `dialtone.wire.fields` metadata are enforced, and each failure is a
`ProtocolError` with its path. Hooks are built once per type by factories, so the per-call work is a
few type checks and a bound comparison.
"""

import binascii
import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, Union

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from dialtone.wire import limits
from dialtone.wire.errors import ProtocolError, Reason
from dialtone.wire.fields import Blob, FloatRange, IntRange, Items, Pattern, Text

StructureHook = Callable[[Any, Any], Any]
UnstructureHook = Callable[[Any], Any]

# base64url without padding. Decoding maps the URL-safe alphabet onto the standard one and the
# standard-only characters and padding onto "!", which strict mode rejects.
_B64_TO_STD: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_B64: Final = bytes.maketrans(b"+/", b"-_")
_B64_PAD: Final = (b"", b"", b"==", b"=")
_B64_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Index of each base64url character, so the unused low bits of the last one can be checked.
_B64_VALUE: Final = bytes(_B64_ALPHABET.index(i) if i in _B64_ALPHABET else 0 for i in range(256))
_B64_UNUSED_BITS: Final = (0, 0, 0x0F, 0x03)

_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_CONSTRAINTS: Final = (Text, Pattern, Blob, IntRange, FloatRange, Items)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _wrong_type(expected: str) -> ProtocolError:
    return ProtocolError(Reason.WRONG_TYPE, f"expected {expected}")


# --- bytes ---------------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 4648 section 5).

    Args:
        data: The bytes.

    Returns:
        The text.
    """
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_B64).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode canonical base64url without padding.

    Args:
        text: The text.

    Returns:
        The bytes.

    Raises:
        ProtocolError: ``bad_encoding`` on padding, characters outside the alphabet, an impossible
            length, or non-zero unused bits in the last character.
    """
    rem = len(text) & 3
    try:
        if rem == 1:
            raise ValueError
        raw = text.encode("ascii")
        data = binascii.a2b_base64(raw.translate(_B64_TO_STD) + _B64_PAD[rem], strict_mode=True)
        if rem and _B64_VALUE[raw[-1]] & _B64_UNUSED_BITS[rem]:
            raise ValueError
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise ProtocolError(
            Reason.BAD_ENCODING, "expected canonical base64url without padding"
        ) from None
    return data


def _blob_structure(blob: Blob) -> StructureHook:
    max_chars = (blob.max_bytes * 4 + 2) // 3
    lo, hi = blob.min_bytes, blob.max_bytes
    # b64url_decode inlined: byte fields are most of a message's decoding time.
    to_std, pad, value_of, unused = _B64_TO_STD, _B64_PAD, _B64_VALUE, _B64_UNUSED_BITS
    a2b = binascii.a2b_base64

    def structure_blob(value: Any, _: Any) -> bytes:
        if value.__class__ is not str:
            raise _wrong_type("a base64url string")
        if len(value) > max_chars:
            raise ProtocolError(Reason.BAD_LENGTH, f"over {hi} bytes")
        rem = len(value) & 3
        try:
            raw = value.encode("ascii")
            data = a2b(raw.translate(to_std) + pad[rem], strict_mode=True)
            if rem and (rem == 1 or value_of[raw[-1]] & unused[rem]):
                raise ValueError
        except (ValueError, UnicodeEncodeError):  # binascii.Error is a ValueError
            raise ProtocolError(
                Reason.BAD_ENCODING, "expected canonical base64url without padding"
            ) from None
        if len(data) < lo:
            raise ProtocolError(Reason.BAD_LENGTH, f"under {lo} bytes")
        return data

    return structure_blob


# --- text and numbers ----------------------------------------------------------------------------


def _text_structure(text: Text) -> StructureHook:
    lo, hi = text.min_chars, text.max_chars

    def structure_text(value: Any, _: Any) -> str:
        if value.__class__ is not str:
            raise _wrong_type("a string")
        if not lo <= len(value) <= hi:
            raise ProtocolError(Reason.BAD_LENGTH, f"expected {lo} to {hi} characters")
        if "\x00" in value:
            raise ProtocolError(Reason.BAD_VALUE, "NUL character")
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise ProtocolError(Reason.BAD_VALUE, "lone surrogate") from None
        return value

    return structure_text


def _pattern_structure(pattern: Pattern) -> StructureHook:
    fullmatch = re.compile(pattern.regex).fullmatch
    detail = f"expected {pattern.description}"

    def structure_pattern(value: Any, _: Any) -> str:
        if value.__class__ is not str:
            raise _wrong_type("a string")
        if fullmatch(value) is None:
            raise ProtocolError(Reason.BAD_VALUE, detail)
        return value

    return structure_pattern


def _int_structure(bounds: IntRange) -> StructureHook:
    lo, hi = bounds.lo, bounds.hi

    def structure_int(value: Any, _: Any) -> int:
        # Exact class check: JSON true is not 1, and 1.0 is not an integer.
        if value.__class__ is not int:
            raise _wrong_type("an integer")
        if not lo <= value <= hi:
            raise ProtocolError(Reason.BAD_VALUE, f"expected {lo} to {hi}")
        return value

    return structure_int


def _float_structure(bounds: FloatRange) -> StructureHook:
    lo, hi = bounds.lo, bounds.hi

    def structure_float(value: Any, _: Any) -> float:
        if value.__class__ is int:
            value = float(value)
        elif value.__class__ is not float:
            raise _wrong_type("a number")
        # NaN fails both comparisons, so it lands here too.
        if not lo <= value <= hi:
            raise ProtocolError(Reason.BAD_VALUE, f"expected a finite number {lo} to {hi}")
        return typing.cast(float, value)

    return structure_float


def _structure_bool(value: Any, _: Any) -> bool:
    if value.__class__ is not bool:
        raise _wrong_type("true or false")
    return value


# Unannotated primitives never appear in the protocol's types (a test checks); these strict hooks
# keep a stray one from silently accepting anything.
_structure_plain_str = _text_structure(Text(limits.MAX_TEXT_CHARS))
_structure_plain_int = _int_structure(IntRange(-limits.MAX_SAFE_INT, limits.MAX_SAFE_INT))
_structure_plain_float = _float_structure(FloatRange(-1e300, 1e300))
_structure_plain_bytes = _blob_structure(Blob(limits.MAX_SEALED_BODY_BYTES))


# --- timestamps ----------------------------------------------------------------------------------


def _structure_datetime(value: Any, _: Any) -> datetime:
    if value.__class__ is not str:
        raise _wrong_type("an RFC 3339 timestamp string")
    if _TIMESTAMP.fullmatch(value) is None:
        raise ProtocolError(Reason.BAD_VALUE, "expected an RFC 3339 timestamp")
    try:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is not UTC:
            instant = instant.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ProtocolError(Reason.BAD_VALUE, "impossible date or time") from None
    return instant


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset is None:
            raise ProtocolError(Reason.BAD_VALUE, "naive datetime: the wire needs aware ones")
        value = value.astimezone(UTC)
    if value.__class__ is datetime:
        # What isoformat(timespec="microseconds") writes, with "Z" for "+00:00", in a third less
        # time (a subclass may format itself differently, so it gets isoformat itself).
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - fastest here
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
        )
    # isoformat always writes "+00:00" for an aware UTC value; the wire writes "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


# --- errors --------------------------------------------------------------------------------------


def to_protocol_error(exc: BaseException, path: str = "$") -> ProtocolError:
    """Turn whatever a structure hook raised into one `ProtocolError` located by path.

    cattrs' detailed validation collects errors in exception groups annotated with the field or
    index; the first leaf is reported (the order is the order of the fields).

    Args:
        exc: The exception raised while structuring.
        path: The path of the value being structured.

    Returns:
        The protocol error.
    """
    while isinstance(exc, BaseValidationError):
        sub = exc.exceptions[0]
        for note in getattr(sub, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path += f".{note.name}"
            elif isinstance(note, IterableValidationNote):
                path += f"[{note.index}]"
        exc = sub
    if isinstance(exc, ProtocolError):
        return exc.under(path)
    if isinstance(exc, KeyError):
        return ProtocolError(Reason.MISSING_FIELD, "required field missing", path)
    if isinstance(exc, ForbiddenExtraKeysError):
        name = sorted(exc.extra_fields)[0]
        return ProtocolError(Reason.UNKNOWN_FIELD, "unknown field", f"{path}.{name}")
    if isinstance(exc, TypeError | AttributeError):
        return ProtocolError(Reason.WRONG_TYPE, "wrong JSON type", path)
    return ProtocolError(Reason.BAD_VALUE, f"invalid value ({type(exc).__name__})", path)


# --- collections, optionals, enums, literals -----------------------------------------------------


def _tuple_hooks(
    converter: cattrs.Converter, elem_type: Any, items: Items
) -> tuple[StructureHook, UnstructureHook]:
    elem_structure = converter.get_structure_hook(elem_type)
    elem_unstructure = converter.get_unstructure_hook(elem_type)
    lo, hi = items.min_items, items.max_items

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if value.__class__ is not list:
            raise _wrong_type("an array")
        if not lo <= len(value) <= hi:
            raise ProtocolError(Reason.BAD_LENGTH, f"expected {lo} to {hi} items")
        try:
            return tuple([elem_structure(e, elem_type) for e in value])
        except Exception:  # noqa: S110 - located and reported just below
            pass
        # Slow path, only on error: structure again one by one to find the failing index.
        for index, element in enumerate(value):
            try:
                elem_structure(element, elem_type)
            except Exception as exc:
                raise to_protocol_error(exc, f"[{index}]") from None
        raise AssertionError("unreachable: a hook failed once and then succeeded")

    if elem_unstructure is identity:

        def unstructure_tuple(value: tuple[Any, ...]) -> list[Any]:
            return list(value)

    else:

        def unstructure_tuple(value: tuple[Any, ...]) -> list[Any]:
            return [elem_unstructure(e) for e in value]

    return structure_tuple, unstructure_tuple


def _is_optional(type_: Any) -> bool:
    origin = typing.get_origin(type_)
    if origin is not Union and origin is not types.UnionType:
        return False
    args = typing.get_args(type_)
    return len(args) == 2 and type(None) in args


def _optional_hooks(
    converter: cattrs.Converter, type_: Any
) -> tuple[StructureHook, UnstructureHook]:
    (inner,) = (a for a in typing.get_args(type_) if a is not type(None))
    inner_structure = converter.get_structure_hook(inner)
    inner_unstructure = converter.get_unstructure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else inner_structure(value, inner)

    if inner_unstructure is identity:
        return structure_optional, identity

    def unstructure_optional(value: Any) -> Any:
        return None if value is None else inner_unstructure(value)

    return structure_optional, unstructure_optional


def _structure_str_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if value.__class__ is not str:
        raise _wrong_type("a string")
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise ProtocolError(Reason.BAD_VALUE, f"expected one of {choices}") from None


def _unstructure_enum(value: enum.Enum) -> Any:
    return value.value


def _literal_structure(type_: Any) -> StructureHook:
    allowed = typing.get_args(type_)
    detail = "expected " + " or ".join(repr(a) for a in allowed)

    def structure_literal(value: Any, _: Any) -> Any:
        for candidate in allowed:
            if value.__class__ is candidate.__class__ and value == candidate:
                return value
        raise ProtocolError(Reason.BAD_VALUE, detail)

    return structure_literal


# --- attrs classes and tagged unions -------------------------------------------------------------


def _attrs_structure(converter: cattrs.Converter, cls: type) -> StructureHook:
    # cattrs generates the field-by-field code twice: a fast straight-line version, and one with
    # detailed validation that is run only after the fast one failed, to say which field failed.
    # Unknown keys are checked here, as a subset test: cheaper than cattrs' set difference.
    fast: StructureHook = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=False, _cattrs_detailed_validation=False
    )
    detailed: StructureHook = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=False, _cattrs_detailed_validation=True
    )
    allowed = frozenset(a.name for a in attrs.fields(cls))
    expected = f"an object ({cls.__name__})"

    def structure_attrs(value: Any, _: Any) -> Any:
        if value.__class__ is not dict:
            raise _wrong_type(expected)
        if not value.keys() <= allowed:
            name = sorted(str(k) for k in value.keys() - allowed)[0]
            raise ProtocolError(Reason.UNKNOWN_FIELD, "unknown field", "." + _field_label(name))
        try:
            return fast(value, cls)
        except Exception:  # noqa: S110 - the detailed run below reports it with its path
            pass
        return detailed(value, cls)

    return structure_attrs


def _field_label(name: str) -> str:
    return name if len(name) <= 40 and name.isidentifier() else _short(name)


def _attrs_unstructure(converter: cattrs.Converter, cls: type) -> UnstructureHook:
    return make_dict_unstructure_fn(cls, converter)


def tag_of(cls: type) -> str:
    """Return the ``type`` tag of an event or command class.

    Args:
        cls: An attrs class with a ``type`` field whose default is its tag.

    Returns:
        The tag.

    Raises:
        TypeError: If the class has no tag.
    """
    field = attrs.fields_dict(cls).get("type")
    if field is None or not isinstance(field.default, str):
        raise TypeError(f"{cls.__name__} has no type tag")
    return field.default


def tag_table(union: Any) -> Mapping[str, type]:
    """Map each tag of a tagged union to its class.

    Args:
        union: A union of tagged attrs classes.

    Returns:
        The tag to class mapping.

    Raises:
        TypeError: If two members share a tag.
    """
    table: dict[str, type] = {}
    for cls in typing.get_args(union):
        tag = tag_of(cls)
        if tag in table:
            raise TypeError(f"tag {tag!r} used by {table[tag].__name__} and {cls.__name__}")
        table[tag] = cls
    return types.MappingProxyType(table)


def _union_hooks(converter: cattrs.Converter, union: Any) -> tuple[StructureHook, UnstructureHook]:
    classes = tag_table(union)
    structure_by_tag = {
        tag: (cls, converter.get_structure_hook(cls)) for tag, cls in classes.items()
    }
    unstructure_by_class = {cls: converter.get_unstructure_hook(cls) for cls in classes.values()}

    def structure_union(value: Any, _: Any) -> Any:
        if value.__class__ is not dict:
            raise _wrong_type("an object")
        tag = value.get("type")
        if tag is None:
            raise ProtocolError(Reason.MISSING_TYPE, "no type tag", ".type")
        entry = structure_by_tag.get(tag) if tag.__class__ is str else None
        if entry is None:
            raise ProtocolError(Reason.UNKNOWN_TYPE, f"unknown type {_short(tag)}", ".type")
        return entry[1](value, entry[0])

    def unstructure_union(value: Any) -> Any:
        hook = unstructure_by_class.get(value.__class__)
        if hook is None:
            raise TypeError(f"{type(value).__name__} is not a member of this union")
        return hook(value)

    return structure_union, unstructure_union


def _constraint_of(type_: Any) -> tuple[Any, Any] | None:
    """Return ``(base type, constraint)`` of an ``Annotated`` field type, or None."""
    if typing.get_origin(type_) is not typing.Annotated:
        return None
    base, *metadata = typing.get_args(type_)
    found = [m for m in metadata if isinstance(m, _CONSTRAINTS)]
    return (base, found[0]) if len(found) == 1 else None


def _annotated_hooks(
    converter: cattrs.Converter, type_: Any
) -> tuple[StructureHook, UnstructureHook]:
    found = _constraint_of(type_)
    assert found is not None
    base, constraint = found
    if isinstance(constraint, Items):
        if typing.get_origin(base) is not tuple or typing.get_args(base)[1:] != (...,):
            raise TypeError(f"Items() bounds tuple[X, ...] only, not {base!r}")
        return _tuple_hooks(converter, typing.get_args(base)[0], constraint)
    if isinstance(constraint, Blob) and base is bytes:
        return _blob_structure(constraint), b64url_encode
    if isinstance(constraint, Text) and base is str:
        return _text_structure(constraint), identity
    if isinstance(constraint, Pattern) and base is str:
        return _pattern_structure(constraint), identity
    if isinstance(constraint, IntRange) and base is int:
        return _int_structure(constraint), identity
    if isinstance(constraint, FloatRange) and base is float:
        return _float_structure(constraint), identity
    raise TypeError(f"{type(constraint).__name__} cannot bound {base!r}")


def _is_tagged_union(type_: Any) -> bool:
    origin = typing.get_origin(type_)
    if origin is not Union and origin is not types.UnionType:
        return False
    args = typing.get_args(type_)
    return len(args) > 1 and all(attrs.has(a) and "type" in attrs.fields_dict(a) for a in args)


def _is_literal(type_: Any) -> bool:
    return typing.get_origin(type_) is Literal


def register_hooks(converter: cattrs.Converter) -> cattrs.Converter:
    """Register every hook of the wire protocol on `converter`.

    Args:
        converter: A fresh converter.

    Returns:
        The same converter.
    """
    # Class hooks go to cattrs' singledispatch, which resolves by MRO: the str hook would also
    # catch every StrEnum, so StrEnum gets its own, more specific, hooks.
    for cls, structure in (
        (str, _structure_plain_str),
        (int, _structure_plain_int),
        (float, _structure_plain_float),
        (bool, _structure_bool),
        (bytes, _structure_plain_bytes),
        (datetime, _structure_datetime),
        (enum.StrEnum, _structure_str_enum),
    ):
        converter.register_structure_hook(cls, structure)
    converter.register_unstructure_hook(bytes, b64url_encode)
    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_unstructure_hook(enum.StrEnum, _unstructure_enum)
    converter.register_structure_hook_factory(_is_literal, _literal_structure)

    converter.register_structure_hook_factory(
        attrs.has, lambda cls: _attrs_structure(converter, cls)
    )
    converter.register_unstructure_hook_factory(
        attrs.has, lambda cls: _attrs_unstructure(converter, cls)
    )

    # Factories registered later are consulted first: the specific union shapes go last.
    for predicate, make in (
        (lambda t: _constraint_of(t) is not None, _annotated_hooks),
        (_is_optional, _optional_hooks),
        (_is_tagged_union, _union_hooks),
    ):
        _register_pair(converter, predicate, make)
    return converter


def _register_pair(
    converter: cattrs.Converter,
    predicate: Callable[[Any], bool],
    make: Callable[[cattrs.Converter, Any], tuple[StructureHook, UnstructureHook]],
) -> None:
    # One factory builds both directions; each direction asks for its half.
    converter.register_structure_hook_factory(predicate, lambda t: make(converter, t)[0])
    converter.register_unstructure_hook_factory(predicate, lambda t: make(converter, t)[1])
