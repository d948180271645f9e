"""What the injected environment says: Wayland or not, the opt-in variable, the bus address."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialtone.ptt import hotkey_fallback_enabled, is_wayland, session_bus_address


@pytest.mark.parametrize(
    ("env", "wayland"),
    [
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({"XDG_SESSION_TYPE": "wayland"}, True),
        ({"XDG_SESSION_TYPE": "Wayland"}, True),
        ({"WAYLAND_DISPLAY": "", "XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, False),
        ({}, False),
    ],
)
def test_wayland_detection(env: dict[str, str], wayland: bool) -> None:
    """WAYLAND_DISPLAY (non-empty) or XDG_SESSION_TYPE=wayland mean Wayland."""
    assert is_wayland(env) is wayland


@pytest.mark.parametrize(
    ("value", "enabled"), [("1", True), ("true", True), (" YES ", True), ("0", False), ("", False)]
)
def test_hotkey_fallback_variable(value: str, enabled: bool) -> None:
    """DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK=1 (or true/yes/on) opts in; anything else does not."""
    assert hotkey_fallback_enabled({"DIALTONE_PTT_WAYLAND_HOTKEY_FALLBACK": value}) is enabled


def test_session_bus_address_lookup(tmp_path: Path) -> None:
    """The explicit address wins; else $XDG_RUNTIME_DIR/bus if that socket exists; else None."""
    runtime = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert session_bus_address(runtime) is None
    (tmp_path / "bus").touch()
    assert session_bus_address(runtime) == f"unix:path={tmp_path / 'bus'}"
    explicit = {**runtime, "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/x"}
    assert session_bus_address(explicit) == "unix:path=/run/x"
