"""Fast paths for the hot WebSocket events: canonical frames, decoded and encoded in one step each.

The generic path parses JSON and then walks the cattrs hooks field by field. For a message event
that is 20 µs to decode and 15 µs to encode on the reference machine, most of it interpreter
overhead around small checks. A fast path handles one class, and only the *canonical* text of it:
exactly what `Codec` writes (compact, ASCII, the fields in declaration order, every field present,
no escape in any string). On anything else it returns None and the caller takes the generic path,
unchanged; so errors are always found and reported by the generic path, and a fast path can only
accept what the generic path accepts, giving an equal object.

- Decoding is one compiled regular expression over the whole frame that checks the layout and
  every field's own pattern (the `fields.Pattern` regexes verbatim, integer digits, the RFC 3339
  timestamp pattern of the hooks) and captures the values. What the expression does not check is
  then checked as the hooks do (integer ranges, base64url canonicality, impossible dates), and
  the attrs objects are built.
- Encoding is one ``%`` format with the keys and punctuation baked in. A value that the generic
  encoder would write differently from the plain pattern (a non-``str`` in a string field, a
  ``bool`` in an integer field, a string that needs escaping, a subclass) makes it give up.

Like cattrs' own, the code is generated per class (from the field types and their
`dialtone.wire.fields` bounds) and compiled once; a field type outside the few kinds handled here
makes the class ineligible (`TypeError`), never silently approximated.
"""

import binascii
import json.encoder
import re
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal

import attrs
import cattrs
from cattrs.fns import identity

from dialtone.wire import _hooks
from dialtone.wire.fields import Blob, IntRange, Pattern

FastDecoder = Callable[[str | bytes], Any]
"""Canonical frame text (or its bytes) to the object, or None to take the generic path."""
FastEncoder = Callable[[Any], str | None]
"""Object to its canonical frame text, or None to take the generic path."""

# JSON's own escaping (the C function the stdlib encoder uses with ensure_ascii=True), so a string
# is written exactly as the generic path writes it.
_ESCAPE: Final = json.encoder.encode_basestring_ascii
# A `fields.Pattern` regex is embedded verbatim only if it is a sequence of bracketed classes of
# ASCII letters, digits, "_" and "-" (with optional {m} / {m,n} counts) and literal "-": such a
# pattern can never match a quote, a backslash, a control or non-ASCII character, so the text it
# matches between quotes is the JSON string's value, unescaped.
_SAFE_CLASS: Final = r"\[(?:[0-9]-[0-9]|[a-z]-[a-z]|[A-Z]-[A-Z]|[A-Za-z0-9_])+-?\]"
_SAFE_PATTERN: Final = re.compile(rf"(?:{_SAFE_CLASS}(?:\{{[0-9]+(?:,[0-9]+)?\}})?|-)+")


def _namespace() -> dict[str, Any]:
    """The names the generated code sees besides its own constants."""
    return {
        "a2b": binascii.a2b_base64,
        "to_std": _hooks._B64_TO_STD,
        "pad": _hooks._B64_PAD,
        "value_of": _hooks._B64_VALUE,
        "unused": _hooks._B64_UNUSED_BITS,
        "fromiso": datetime.fromisoformat,
        "UTC": UTC,
        "datetime": datetime,
        "new": object.__new__,
        "esc": _ESCAPE,
        "b64": _hooks.b64url_encode,
        "dt": _hooks._unstructure_datetime,
    }


def _tag_of(hint: Any) -> str | None:
    if typing.get_origin(hint) is not Literal:
        return None
    args = typing.get_args(hint)
    return args[0] if len(args) == 1 and args[0].__class__ is str else None


def _constraint(hint: Any) -> Pattern | IntRange | Blob | None:
    """The bound of an ``Annotated[str, Pattern]``, ``[int, IntRange]`` or ``[bytes, Blob]``."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    base, *metadata = typing.get_args(hint)
    found = [m for m in metadata if isinstance(m, Pattern | IntRange | Blob)]
    if len(found) != 1:
        return None
    (constraint,) = found
    if isinstance(constraint, Pattern):
        return constraint if base is str else None
    if isinstance(constraint, IntRange):
        return constraint if base is int else None
    return constraint if base is bytes else None


def _fields(cls: type) -> list[tuple[str, Any]]:
    """The (name, type) of each field, checked to be a plain keyword of ``__init__``."""
    hints = typing.get_type_hints(cls, include_extras=True)
    result = []
    for field in attrs.fields(cls):
        if not field.init or field.alias != field.name or field.name.startswith("_"):
            raise TypeError(f"{cls.__name__}.{field.name} is not a plain init argument")
        result.append((field.name, hints[field.name]))
    return result


def _plain_slots(cls: type) -> bool:
    """Whether ``cls.__init__`` only stores its arguments, so storing them directly is the same.

    True for a slotted attrs class of its own (no base class) whose ``__init__`` attrs generated,
    with no validator, converter, pre- or post-init hook and no slot besides the fields: attrs'
    ``__init__`` then only sets each slot (``object.__setattr__``, which is what the slot
    descriptor's ``__set__`` does), so building an equal object costs a third less.
    """
    names = {f.name for f in attrs.fields(cls)}
    init = getattr(cls, "__init__", None)
    code = getattr(init, "__code__", None)
    return (
        cls.__mro__[1:] == (object,)
        and code is not None
        and code.co_filename.startswith("<attrs generated")
        and set(getattr(cls, "__slots__", ())) - {"__weakref__"} == names
        and all(f.validator is None and f.converter is None for f in attrs.fields(cls))
        and not hasattr(cls, "__attrs_pre_init__")
        and not hasattr(cls, "__attrs_post_init__")
    )


def dependencies(roots: Iterable[Any]) -> tuple[Any, ...]:
    """Every type whose hooks the fast paths of `roots` stand in for: the roots and, for attrs
    classes among them, their field types, recursively.

    Args:
        roots: Tagged unions and attrs classes.

    Returns:
        The types, each once, in a stable order.
    """
    found: list[Any] = []
    pending = list(roots)
    while pending:
        type_ = pending.pop(0)
        if type_ in found:
            continue
        found.append(type_)
        if isinstance(type_, type) and attrs.has(type_):
            hints = typing.get_type_hints(type_, include_extras=True)
            pending.extend(hints[f.name] for f in attrs.fields(type_))
    return tuple(found)


def hook_snapshot(converter: cattrs.Converter, types: Iterable[Any]) -> tuple[Any, ...]:
    """The structure and unstructure hook objects `converter` holds for `types`.

    cattrs keeps the hook it made for a type until a hook is registered, so two equal snapshots
    mean no hook was replaced in between.

    Args:
        converter: The converter.
        types: The types (see `dependencies`).

    Returns:
        ``(type, structure hook, unstructure hook)`` per type.
    """
    return tuple(
        (t, converter.get_structure_hook(t), converter.get_unstructure_hook(t)) for t in types
    )


class _Generator:
    """Builds the source of one decoder and one encoder for a class, field by field."""

    def __init__(self, converter: cattrs.Converter) -> None:
        self.converter = converter
        self.namespace = _namespace()
        self.regex: list[str] = []
        self.captures: list[str] = []  # decoder variable per capture group, in order
        self.convert: list[str] = []  # decoder lines turning captures into field values
        self.build: list[str] = []  # decoder lines building the objects, innermost first
        self.checks: list[str] = []  # encoder lines reading and checking each value
        self.template: list[str] = []  # encoder format string parts
        self.args: list[str] = []  # encoder format arguments
        self.count = 0

    def name(self, prefix: str, value: Any = None) -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        if value is not None:
            self.namespace[name] = value
        return name

    def literal(self, text: str) -> None:
        self.regex.append(re.escape(text))
        self.template.append(text.replace("%", "%%"))

    def check_unstructure(self, type_: Any, expected: Any) -> None:
        if self.converter.get_unstructure_hook(type_) is not expected:
            raise TypeError(f"{type_!r} is not unstructured by {expected!r}")

    def attrs_class(self, cls: type, obj: str) -> str:
        """Emit the code of an attrs class read from variable `obj`; return the decoded variable."""
        cls_name = self.name("C", cls)
        self.checks.append(f"if {obj}.__class__ is not {cls_name}: return None")
        self.literal("{")
        values: list[tuple[str, str]] = []
        for index, (field, hint) in enumerate(_fields(cls)):
            self.literal(("," if index else "") + _ESCAPE(field) + ":")
            value = self.name("f")
            self.checks.append(f"{value} = {obj}.{field}")
            values.append((field, self.field(hint, value)))
        self.literal("}")
        out = self.name("o")
        if _plain_slots(cls):
            self.build.append(f"{out} = new({cls_name})")
            for field, value in values:
                setter = self.name("set_", cls.__dict__[field].__set__)
                self.build.append(f"{setter}({out}, {value})")
        else:
            kwargs = ", ".join(f"{field}={value}" for field, value in values)
            self.build.append(f"{out} = {cls_name}({kwargs})")
        return out

    def capture(self, regex: str) -> str:
        var = self.name("v")
        self.regex.append(f"({regex})")
        self.captures.append(var)
        return var

    def field(self, hint: Any, value: str) -> str:
        """Emit the code of one field read into encoder variable `value`; return the decoded
        variable or constant."""
        tag = _tag_of(hint)
        if tag is not None:
            self.check_unstructure(hint, identity)
            const = self.name("T", tag)
            self.checks.append(f"if {value}.__class__ is not str or {value} != {const}:")
            self.checks.append("    return None")
            self.literal(_ESCAPE(tag))
            return const
        if isinstance(hint, type) and attrs.has(hint):
            return self.attrs_class(hint, value)
        if hint is datetime:
            return self.timestamp(value)
        constraint = _constraint(hint)
        if isinstance(constraint, Pattern):
            return self.pattern(hint, constraint, value)
        if isinstance(constraint, IntRange):
            return self.integer(hint, constraint, value)
        if isinstance(constraint, Blob):
            return self.blob(hint, constraint, value)
        raise TypeError(f"no fast path for fields of type {hint!r}")

    def pattern(self, hint: Any, constraint: Pattern, value: str) -> str:
        if _SAFE_PATTERN.fullmatch(constraint.regex) is None:
            raise TypeError(f"pattern {constraint.regex!r} may need JSON escapes")
        self.check_unstructure(hint, identity)
        self.checks.append(f"if {value}.__class__ is not str: return None")
        self.regex.append('"')
        var = self.capture(constraint.regex)
        self.regex.append('"')
        self.template.append("%s")
        self.args.append(f"esc({value})")
        return var

    def integer(self, hint: Any, bounds: IntRange, value: str) -> str:
        self.check_unstructure(hint, identity)
        self.checks.append(f"if {value}.__class__ is not int: return None")
        # JSON integers (no fraction, no exponent, no leading zero) no longer than the bounds;
        # longer ones are out of range, and left to the generic path to say so. The value is
        # followed by "," or "}" in the expression, so "1.5" or "1e3" never match.
        digits = len(str(max(abs(bounds.lo), abs(bounds.hi))))
        sign = "-?" if bounds.lo < 0 else ""
        var = self.capture(f"{sign}(?:0|[1-9][0-9]{{0,{digits - 1}}})")
        self.convert.append(f"{var} = int({var})")
        if bounds.lo <= 0 and not sign:  # the expression admits no negative number
            self.convert.append(f"if {var} > {bounds.hi}: return None")
        else:
            self.convert.append(f"if not {bounds.lo} <= {var} <= {bounds.hi}: return None")
        self.template.append("%d")
        self.args.append(value)
        return var

    def blob(self, hint: Any, blob: Blob, value: str) -> str:
        self.check_unstructure(hint, _hooks.b64url_encode)
        # Any run of non-quote characters (the cheapest scan for the expression), as long as
        # `min_bytes` to `max_bytes` bytes are in base64. Below, non-ASCII text fails to encode,
        # the strict decoder refuses every character outside the alphabet (after translation "+",
        # "/" and "=" too, so escapes, spaces and padding as well) and a length of 4n + 1, and
        # the unused low bits of the last character must be zero: only canonical base64url
        # passes, as in the generic hook (`_hooks._blob_structure`).
        least, most = ((n * 4 + 2) // 3 for n in (blob.min_bytes, blob.max_bytes))
        self.regex.append('"')
        var = self.capture(f'[^"]{{{least},{most}}}')
        self.regex.append('"')
        raw = self.name("raw")
        rem = self.name("rem")
        self.convert += [
            f"{rem} = len({var}) & 3",
            f'{raw} = {var}.encode("ascii")',
            f"{var} = a2b({raw}.translate(to_std) + pad[{rem}], strict_mode=True)",
            f"if {rem} and value_of[{raw}[-1]] & unused[{rem}]: return None",
        ]
        self.template.append('"%s"')
        self.args.append(f"b64({value})")
        return var

    def timestamp(self, value: str) -> str:
        self.check_unstructure(datetime, _hooks._unstructure_datetime)
        # dt() writes an exact datetime as digits and "-T:.Z": nothing to escape.
        self.checks.append(f"if {value}.__class__ is not datetime: return None")
        self.regex.append('"')
        var = self.capture(_hooks._TIMESTAMP.pattern)
        self.regex.append('"')
        self.convert += [
            f"{var} = fromiso({var})",
            f"if {var}.tzinfo is not UTC: {var} = {var}.astimezone(UTC)",
        ]
        self.template.append('"%s"')
        self.args.append(f"dt({value})")
        return var


def _compile(source: str, namespace: dict[str, Any], name: str, label: str) -> Any:
    code = compile(source, f"<dialtone.wire fast path {label}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated code, from type metadata only
    return namespace[name]


def compile_fast_paths(
    converter: cattrs.Converter, cls: type, max_chars: int
) -> tuple[FastDecoder, FastEncoder]:
    """Generate the fast decoder and encoder of one class.

    Args:
        converter: The converter whose hooks the fast paths stand in for (used to check that each
            field's unstructure hook is the one mirrored here).
        cls: An attrs class whose fields are type tags, `fields.Pattern` strings, `IntRange`
            integers, `Blob` bytes, timestamps or such attrs classes.
        max_chars: The size limit of the surface; longer input is left to the generic path.

    Returns:
        The decoder (frame text or bytes to object, or None) and the encoder (object to frame
        text, or None).

    Raises:
        TypeError: If a field of `cls` (or of a nested class) is of another kind.
    """
    gen = _Generator(converter)
    top = gen.attrs_class(cls, "obj")
    gen.namespace["match"] = re.compile("".join(gen.regex)).fullmatch
    gen.namespace["fmt"] = "".join(gen.template)
    label = cls.__qualname__
    unpack = "".join(f"{var}, " for var in gen.captures)
    args = "".join(f"{arg}, " for arg in gen.args)
    decoder_source = "\n".join(
        [
            "def decode(data):",
            "    if data.__class__ is not str:",
            "        if data.__class__ is not bytes or len(data) > max_chars: return None",
            "        try:",
            '            data = data.decode("ascii")',
            "        except Exception:",
            "            return None",
            "    if len(data) > max_chars: return None",
            "    m = match(data)",
            "    if m is None: return None",
            f"    {unpack}= m.groups()" if unpack else "",
            "    try:",
            *(f"        {line}" for line in gen.convert or ["pass"]),
            "    except Exception:",
            "        return None",
            *(f"    {line}" for line in gen.build),
            f"    return {top}",
        ]
    )
    encoder_source = "\n".join(
        [
            "def encode(obj):",
            "    try:",
            *(f"        {line}" for line in gen.checks),
            f"        return fmt % ({args})",
            "    except Exception:",
            "        return None",
        ]
    )
    gen.namespace["max_chars"] = max_chars
    decoder = _compile(decoder_source, gen.namespace, "decode", f"decode {label}")
    encoder = _compile(encoder_source, gen.namespace, "encode", f"encode {label}")
    return decoder, encoder
