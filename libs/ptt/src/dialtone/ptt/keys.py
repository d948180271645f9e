"""Key specifications (``"ctrl+space"``, ``"f9"``, ``"a"``) and the names pynput keys map to.

Parsing needs no display and no pynput, so a bad ``--ptt`` value is reported before any backend
starts. Names follow pynput's `Key` members, with left/right variants of a modifier folded into
one (``ctrl_r`` is ``ctrl``): PTT on "ctrl" means either Control key.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from dialtone.ptt.errors import InvalidKeySpecError

__all__ = ["DEFAULT_KEY", "KeySpec", "key_name", "parse_key_spec"]

DEFAULT_KEY: Final = "ctrl+space"
"""The push-to-talk key when none is configured."""

_MODIFIER_ORDER: Final = ("ctrl", "alt", "shift", "cmd", "alt_gr")

_MODIFIER_ALIASES: Final = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "ctl": "ctrl",
    "alt": "alt",
    "shift": "shift",
    "cmd": "cmd",
    "super": "cmd",
    "win": "cmd",
    "meta": "cmd",
    "logo": "cmd",
    "alt_gr": "alt_gr",
    "altgr": "alt_gr",
}

_NAMED_KEYS: Final = frozenset(
    {
        "backspace",
        "caps_lock",
        "delete",
        "down",
        "end",
        "enter",
        "esc",
        "home",
        "insert",
        "left",
        "menu",
        "num_lock",
        "page_down",
        "page_up",
        "pause",
        "print_screen",
        "right",
        "scroll_lock",
        "space",
        "tab",
        "up",
        "media_play_pause",
        "media_volume_mute",
        "media_volume_down",
        "media_volume_up",
        "media_previous",
        "media_next",
        *(f"f{n}" for n in range(1, 21)),
    }
)

_KEY_ALIASES: Final = {
    "return": "enter",
    "escape": "esc",
    "del": "delete",
    "ins": "insert",
    "pgup": "page_up",
    "pageup": "page_up",
    "pgdn": "page_down",
    "pagedown": "page_down",
    "print": "print_screen",
    "plus": "+",
}

# Trigger names of the XDG "shortcuts" specification (xkbcommon keysym names), used to suggest
# our key to the GlobalShortcuts portal as ``preferred_trigger``.
_XDG_MODIFIERS: Final = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "cmd": "LOGO"}
_XDG_KEYSYMS: Final = {
    "backspace": "BackSpace",
    "caps_lock": "Caps_Lock",
    "delete": "Delete",
    "down": "Down",
    "end": "End",
    "enter": "Return",
    "esc": "Escape",
    "home": "Home",
    "insert": "Insert",
    "left": "Left",
    "menu": "Menu",
    "num_lock": "Num_Lock",
    "page_down": "Page_Down",
    "page_up": "Page_Up",
    "pause": "Pause",
    "print_screen": "Print",
    "right": "Right",
    "scroll_lock": "Scroll_Lock",
    "space": "space",
    "tab": "Tab",
    "up": "Up",
    "ctrl": "Control_L",
    "alt": "Alt_L",
    "shift": "Shift_L",
    "cmd": "Super_L",
    **{f"f{n}": f"F{n}" for n in range(1, 21)},
}


@attrs.frozen
class KeySpec:
    """A push-to-talk key: zero or more modifiers held together with one key.

    Attributes:
        key: The key's name (``"space"``, ``"f9"``, ``"a"``, or a modifier name when a modifier
            alone is the push-to-talk key).
        modifiers: The modifiers that must be held with it (``"ctrl"``, ``"alt"``, ``"shift"``,
            ``"cmd"``, ``"alt_gr"``).
    """

    key: str
    modifiers: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        """Every key name that must be down for the shortcut to be held."""
        return self.modifiers | {self.key}

    def __str__(self) -> str:
        """The canonical spelling, e.g. ``ctrl+shift+f9``."""
        ordered = [m for m in _MODIFIER_ORDER if m in self.modifiers]
        return "+".join([*ordered, self.key])

    def xdg_trigger(self) -> str | None:
        """The key in the XDG shortcuts format (``CTRL+space``) for the portal's preferred trigger.

        Returns:
            The trigger string, or None when the key has no spelling there (punctuation, media
            keys, AltGr); the portal then lets the user choose.
        """
        if "alt_gr" in self.modifiers:
            return None
        if self.key in _XDG_KEYSYMS:
            keysym = _XDG_KEYSYMS[self.key]
        elif len(self.key) == 1 and self.key.isascii() and self.key.isalnum():
            keysym = self.key
        else:
            return None
        ordered = [_XDG_MODIFIERS[m] for m in _MODIFIER_ORDER if m in self.modifiers]
        return "+".join([*ordered, keysym])


def parse_key_spec(spec: str) -> KeySpec:
    """Parse a key specification such as ``"ctrl+space"``, ``"f9"``, ``"a"`` or ``"ctrl"``.

    Parts are separated by ``+`` and case-insensitive; all but the last must be modifiers. A
    modifier alone is a valid key. Aliases: control, super/win/meta/logo, altgr, return, escape,
    del, ins, pgup, pgdn, print, plus (the ``+`` key).

    Args:
        spec: The specification.

    Returns:
        The parsed key.

    Raises:
        InvalidKeySpecError: If a part is empty, unknown, repeated, or a non-modifier comes first.
    """
    parts = [part.strip().lower() for part in spec.split("+")]
    if not spec.strip() or any(not part for part in parts):
        raise InvalidKeySpecError(
            f"invalid push-to-talk key {spec!r}: expected keys joined by '+', e.g. 'ctrl+space'"
        )
    *modifier_parts, key_part = parts
    modifiers: set[str] = set()
    for part in modifier_parts:
        modifier = _MODIFIER_ALIASES.get(part)
        if modifier is None:
            raise InvalidKeySpecError(
                f"invalid push-to-talk key {spec!r}: {part!r} is not a modifier "
                f"(use {', '.join(_MODIFIER_ORDER)}) and only the last part may be another key"
            )
        if modifier in modifiers:
            raise InvalidKeySpecError(f"invalid push-to-talk key {spec!r}: {part!r} is repeated")
        modifiers.add(modifier)
    key = _parse_key(spec, key_part)
    if key in modifiers:
        raise InvalidKeySpecError(f"invalid push-to-talk key {spec!r}: {key_part!r} is repeated")
    return KeySpec(key=key, modifiers=frozenset(modifiers))


def _parse_key(spec: str, part: str) -> str:
    if part in _MODIFIER_ALIASES:
        return _MODIFIER_ALIASES[part]
    part = _KEY_ALIASES.get(part, part)
    if part in _NAMED_KEYS:
        return part
    if len(part) == 1 and part.isprintable() and not part.isspace():
        return part
    raise InvalidKeySpecError(
        f"invalid push-to-talk key {spec!r}: unknown key {part!r} "
        "(use one character, f1..f20, space, enter, tab, esc, or another named key)"
    )


def key_name(key: object) -> str | None:
    """The name a key event from pynput matches in a `KeySpec`.

    Duck-typed on pynput's classes so this module never imports pynput: a `Key` member (an enum)
    is named by its member name with left/right folded (``ctrl_r`` -> ``ctrl``); a `KeyCode` by
    its character, lower-cased (Shift+a arrives as ``"A"``).

    Args:
        key: What pynput passed to ``on_press``/``on_release`` (may be None).

    Returns:
        The key's name, or None for a key without a character or name (e.g. a keysym missing
        from the X server's map, which pynput reports as ``<0>``).
    """
    if isinstance(key, enum.Enum):
        name = key.name
        base, _, side = name.rpartition("_")
        if side in ("l", "r") and base in _MODIFIER_ALIASES:
            return _MODIFIER_ALIASES[base]
        return name
    char = getattr(key, "char", None)
    if isinstance(char, str) and char:
        return "space" if char == " " else char.lower()
    return None
