"""Helpers for tests of the TUI (Pilot tests here and the end-to-end suites under tests/).

- `screen_text` / `screen_svg`: what the current screen shows, as plain text or an SVG.
- `assert_snapshot`: compare the screen's text with a file kept under a snapshots folder; run with
  ``DIALTONE_UPDATE_SNAPSHOTS=1`` to write the files again (the SVG beside it is for people to
  look at, the text is what is compared).
- `wait_until`: let the app run until a condition holds (the UI is asynchronous).
- `wheel`: turn the mouse wheel over a widget, the way a terminal reports it.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget

__all__ = ["UPDATE_ENV", "assert_snapshot", "screen_svg", "screen_text", "wait_until", "wheel"]

UPDATE_ENV = "DIALTONE_UPDATE_SNAPSHOTS"


def _console(app: App[Any]) -> Console:
    width, height = app.size
    return Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )


def _render(app: App[Any]) -> Console:
    console = _console(app)
    update = app.screen._compositor.render_update(  # what export_screenshot does
        full=True, screen_stack=app._background_screens, simplify=True
    )
    console.print(update)
    return console


def screen_text(app: App[Any]) -> str:
    """The characters of the current screen, one line per row, trailing spaces removed.

    Args:
        app: A running app.

    Returns:
        The text.
    """
    text = _render(app).export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n") + "\n"


def screen_svg(app: App[Any], title: str = "Dialtone") -> str:
    """The current screen as an SVG image (colours included).

    Args:
        app: A running app.
        title: The image's title.

    Returns:
        The SVG document.
    """
    return _render(app).export_svg(title=title)


def assert_snapshot(app: App[Any], folder: Path, name: str) -> None:
    """Compare the screen's text with ``folder/name.txt`` (and keep ``name.svg`` beside it).

    Args:
        app: A running app.
        folder: The snapshots folder.
        name: The snapshot's name.

    Raises:
        AssertionError: The screen differs (the message shows both), or no snapshot exists yet.
    """
    actual = screen_text(app)
    path = folder / f"{name}.txt"
    if os.environ.get(UPDATE_ENV) == "1":
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        (folder / f"{name}.svg").write_text(screen_svg(app, name), encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"no snapshot {path}; run with {UPDATE_ENV}=1 to write it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        raise AssertionError(
            f"the screen differs from {path} ({UPDATE_ENV}=1 rewrites it)\n"
            f"--- expected\n{expected}--- actual\n{actual}"
        )


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool], *, within: float = 15.0, what: str = ""
) -> None:
    """Let the app run until `condition()` is true.

    Args:
        pilot: The app's pilot.
        condition: What to wait for.
        within: Seconds before giving up.
        what: Described in the failure message.

    Raises:
        AssertionError: The condition did not hold in time (the screen is in the message).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {within} s waiting for {what or condition!r}; the screen:\n"
                + screen_text(pilot.app)
            )
        await pilot.pause(0.02)


async def wheel(pilot: Pilot[Any], widget: Widget, *, up: bool = True, notches: int = 1) -> None:
    """Turn the mouse wheel over the middle of a widget.

    The events go to the app with screen coordinates, as the terminal driver sends them, so the
    screen routes them to whatever is under the pointer.

    Args:
        pilot: The app's pilot.
        widget: The widget to point at.
        up: Towards older content (up) or newer (down).
        notches: How many wheel steps.
    """
    region = widget.region
    x, y = region.x + region.width // 2, region.y + region.height // 2
    kind = events.MouseScrollUp if up else events.MouseScrollDown
    for _ in range(notches):
        pilot.app.post_message(kind(None, x, y, 0, 0, 0, False, False, False, x, y))
        await pilot.pause()
