"""Key specifications, and the names real pynput keys map to (under Xvfb)."""

from __future__ import annotations

import pytest

from dialtone.ptt import InvalidKeySpecError, KeySpec, parse_key_spec
from dialtone.ptt.keys import key_name


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ctrl+space", KeySpec("space", frozenset({"ctrl"}))),
        ("f9", KeySpec("f9")),
        ("a", KeySpec("a")),
        ("A", KeySpec("a")),
        (" Control + Shift + F12 ", KeySpec("f12", frozenset({"ctrl", "shift"}))),
        ("super+return", KeySpec("enter", frozenset({"cmd"}))),
        ("altgr+pgup", KeySpec("page_up", frozenset({"alt_gr"}))),
        ("ctrl", KeySpec("ctrl")),
        ("shift+ctrl", KeySpec("ctrl", frozenset({"shift"}))),
        ("ctrl+plus", KeySpec("+", frozenset({"ctrl"}))),
        ("alt+1", KeySpec("1", frozenset({"alt"}))),
    ],
)
def test_valid_specs_parse(spec: str, expected: KeySpec) -> None:
    """Case, spaces and aliases are accepted; a modifier alone is a key."""
    assert parse_key_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "wording"),
    [
        ("", "expected keys joined by '+'"),
        ("ctrl+", "expected keys joined by '+'"),
        ("+a", "expected keys joined by '+'"),
        ("a+ctrl", "'a' is not a modifier"),
        ("ctrl+ctrl+a", "'ctrl' is repeated"),
        ("control+ctrl", "'ctrl' is repeated"),
        ("ctrl+spacebar", "unknown key 'spacebar'"),
        ("f21", "unknown key 'f21'"),
    ],
)
def test_invalid_specs_say_why(spec: str, wording: str) -> None:
    """Each mistake is a clear InvalidKeySpecError (also a ValueError)."""
    with pytest.raises(InvalidKeySpecError) as caught:
        parse_key_spec(spec)
    assert wording in caught.value.reason
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("spec", "canonical", "trigger"),
    [
        ("shift+ctrl+space", "ctrl+shift+space", "CTRL+SHIFT+space"),
        ("f9", "f9", "F9"),
        ("win+a", "cmd+a", "LOGO+a"),
        ("alt+enter", "alt+enter", "ALT+Return"),
        ("ctrl", "ctrl", "Control_L"),
        ("ctrl+plus", "ctrl++", None),
        ("altgr+a", "alt_gr+a", None),
        ("media_next", "media_next", None),
    ],
)
def test_canonical_spelling_and_portal_trigger(
    spec: str, canonical: str, trigger: str | None
) -> None:
    """Modifiers print in a fixed order; the XDG trigger exists where the format can say it."""
    key = parse_key_spec(spec)
    assert str(key) == canonical
    assert key.xdg_trigger() == trigger


def test_real_pynput_keys_have_the_names_specs_use(x_display: str) -> None:
    """Left/right modifiers fold together, characters lower-case, unnamed keys give None."""
    from pynput.keyboard import Key, KeyCode

    assert key_name(Key.ctrl_r) == "ctrl"
    assert key_name(Key.ctrl_l) == "ctrl"
    assert key_name(Key.shift_r) == "shift"
    assert key_name(Key.cmd_r) == "cmd"
    assert key_name(Key.alt_gr) == "alt_gr"
    assert key_name(Key.space) == "space"
    assert key_name(Key.f9) == "f9"
    assert key_name(Key.page_up) == "page_up"
    assert key_name(KeyCode.from_char("A")) == "a"
    assert key_name(KeyCode.from_char(" ")) == "space"
    assert key_name(KeyCode.from_vk(0)) is None
    assert key_name(None) is None
    for spec in ("ctrl+space", "shift+f9", "cmd+page_up", "alt_gr+a"):
        parsed = parse_key_spec(spec)
        assert parsed.names <= {key_name(k) for k in Key} | {"a"}
