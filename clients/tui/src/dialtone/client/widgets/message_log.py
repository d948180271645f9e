"""`MessageLog`: the message view of the open channel, a line-API scroll view over a `Timeline`.

Each entry is rendered once per width into strips and cached by entry identity and version, so a
message arriving at the bottom costs one entry's rendering, not the whole channel's: typing stays
responsive while messages pour in. Scrolling to the top asks for an older page
(`MessageLog.OlderWanted`); the page is prepended without moving what the user is looking at.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dialtone.client.core.events import DeviceTrust, FailedMessage
from dialtone.client.timeline import Change, ChangeKind, Entry, LineLevel, LocalLine, Timeline

__all__ = ["SENDER_COLOURS", "MessageLog", "render_entry", "sender_colour"]

SENDER_COLOURS: tuple[str, ...] = (
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_cyan",
)
"""The terminal's own ANSI colours: names look right in any terminal theme."""

_TIME_WIDTH = 6  # "HH:MM "
_LEVEL_STYLES = {
    LineLevel.INFO: Style(dim=True, italic=True),
    LineLevel.WARNING: Style(color="yellow", bold=True),
    LineLevel.ERROR: Style(color="red", bold=True),
}
_FAILED_STYLE = Style(color="yellow", italic=True)
_NOTE_STYLE = Style(color="red", italic=True)
_PENDING_STYLE = Style(dim=True, italic=True)
_TIME_STYLE = Style(dim=True)
_MENTION_STYLE = Style(bold=True, reverse=True)
_TRUST_MARKS = {DeviceTrust.VERIFIED: " ✓", DeviceTrust.CHANGED: " !", DeviceTrust.UNTRUSTED: " !"}


def sender_colour(user_id: str) -> str:
    """The colour of a sender's name: stable for a user, spread over the ANSI palette.

    Args:
        user_id: The sender.

    Returns:
        A Rich colour name.
    """
    return SENDER_COLOURS[zlib.crc32(user_id.encode()) % len(SENDER_COLOURS)]


def _day(moment: datetime, tz: tzinfo | None) -> date:
    return moment.astimezone(tz).date()


def _highlight_mentions(body: Text, names: Sequence[str]) -> None:
    plain = body.plain.casefold()
    for name in names:
        if not name:
            continue
        token = "@" + name.casefold()
        start = plain.find(token)
        while start != -1:
            end = start + len(token)
            if end == len(plain) or not (plain[end].isalnum() or plain[end] in "_-"):
                body.stylize(_MENTION_STYLE, start, end)
            start = plain.find(token, end)


def _content(
    entry: Entry, mention_names: Sequence[str], name_of: Callable[[str], str] | None
) -> Text:
    item = entry.item
    if isinstance(item, LocalLine):
        content = Text(item.text, style=_LEVEL_STYLES[item.level])
    elif isinstance(item, FailedMessage):
        user = item.sender_user_id
        name = name_of(user) if name_of is not None else f"user-{user[:8]}"
        content = Text.assemble(
            (name, Style(color=sender_colour(user))),
            "  ",
            (f"⚠ cannot read this message: {item.reason.value} ({item.detail})", _FAILED_STYLE),
        )
    else:
        name_style = Style(color=sender_colour(item.sender_user_id), bold=True)
        body = Text(item.body)
        if not item.own:
            _highlight_mentions(body, mention_names)
        content = Text.assemble(
            (item.sender_name, name_style),
            (_TRUST_MARKS.get(item.sender_trust, ""), Style(dim=True)),
            "  ",
            body,
        )
        if item.pending:
            content.append("  (pending)", _PENDING_STYLE)
    if entry.note:
        content.append(f"  ({entry.note})", _NOTE_STYLE)
    return content


def render_entry(
    entry: Entry,
    console: Console,
    width: int,
    *,
    tz: tzinfo | None = None,
    day_break: bool = False,
    mention_names: Sequence[str] = (),
    name_of: Callable[[str], str] | None = None,
) -> list[Strip]:
    """Render one entry into lines: the time in a left column, the rest wrapped beside it.

    Args:
        entry: The entry.
        console: The console whose options to render with.
        width: The width in cells.
        tz: The time zone of the timestamps (None: local).
        day_break: Whether a line with the entry's date goes first (a new day starts).
        mention_names: Names that, written as ``@name``, mention the user.
        name_of: The display name of a user id (for messages that cannot be read, whose sealed
            sender name is unknown).

    Returns:
        The strips, each exactly `width` cells.
    """
    width = max(width, _TIME_WIDTH + 8)
    content = _content(entry, mention_names, name_of)
    lines = content.wrap(console, width - _TIME_WIDTH, overflow="fold")
    moment = entry.item.timestamp.astimezone(tz)
    clock = moment.strftime("%H:%M").ljust(_TIME_WIDTH)
    strips: list[Strip] = []
    if day_break:
        label = f" {moment.strftime('%a %d %b %Y')} "
        strips.append(Strip([Segment(label.center(width, "─"), _TIME_STYLE)], width))
    for index, line in enumerate(lines):
        prefix = Segment(clock if index == 0 else " " * _TIME_WIDTH, _TIME_STYLE)
        segments = [prefix, *line.render(console, end="")]
        strips.append(Strip(segments).adjust_cell_length(width))
    return strips or [Strip.blank(width)]


class MessageLog(ScrollView, can_focus=True):
    """The messages of one channel, newest at the bottom, older pages loaded on scrolling up.

    Args:
        name: The widget's name.
        id: The widget's id.
        classes: CSS classes.
    """

    # The scrollbar always takes its column: text never re-wraps when it appears.
    DEFAULT_CSS = """
    MessageLog {
        overflow-x: hidden;
        overflow-y: scroll;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "page_up", "Older", show=False),
        Binding("pagedown", "page_down", "Newer", show=False),
        Binding("home", "scroll_home", "Oldest", show=False),
        Binding("end", "scroll_end", "Newest", show=False),
    ]

    class OlderWanted(Message):
        """The view reached the top of what is loaded and older history may exist.

        Attributes:
            channel_id: The channel.
            before: The ``before`` of the page to load.
        """

        def __init__(self, channel_id: str, before: int | None) -> None:
            super().__init__()
            self.channel_id = channel_id
            self.before = before

    class ReachedBottom(Message):
        """The newest message is visible (the read marker can move).

        Attributes:
            channel_id: The channel.
        """

        def __init__(self, channel_id: str) -> None:
            super().__init__()
            self.channel_id = channel_id

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.timeline: Timeline | None = None
        self.tz: tzinfo | None = None
        self.mention_names: tuple[str, ...] = ()
        self.name_of: Callable[[str], str] | None = None
        self._lines: list[Strip] = []
        self._starts: dict[int, int] = {}
        # id(entry) -> (entry, version, width, day_break, strips); holding the entry keeps its id
        # from being reused by another entry while cached.
        self._cache: dict[int, tuple[Entry, int, int, bool, list[Strip]]] = {}
        self._width = 0
        self._last_day: date | None = None
        self._loading_older = False
        self._reported_seq: int | None = None
        self._base_style: Style | None = None

    # --- what to show ----------------------------------------------------------------------------

    def show(self, timeline: Timeline | None) -> None:
        """Show another channel's timeline (scrolled to its newest message).

        Args:
            timeline: The timeline, or None for an empty view.
        """
        self.timeline = timeline
        self._loading_older = False
        self._reported_seq = None
        self._rebuild()
        self._stick_to_bottom()

    def apply(self, change: Change) -> None:
        """Redraw what a change of the shown timeline touched.

        Args:
            change: What `Timeline` returned.
        """
        kind = change.kind
        if kind is ChangeKind.NONE:
            return
        at_bottom = self._at_bottom()
        if kind is ChangeKind.APPENDED and self._width:
            for entry in change.entries:
                self._starts[id(entry)] = len(self._lines)
                self._lines.extend(self._render_entry(entry))
            self._set_virtual_size()
        elif kind is ChangeKind.UPDATED and self._update_in_place(change.entries):
            pass
        elif kind is ChangeKind.PREPENDED:
            before = len(self._lines)
            self._rebuild()
            self._loading_older = False
            if not at_bottom:
                # Keep the lines the user is reading where they are.
                added = len(self._lines) - before
                self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True, force=True)
        else:
            self._rebuild()
        self.refresh()
        if at_bottom:
            self._stick_to_bottom()

    def older_loaded(self) -> None:
        """An older page finished loading (or failed): another may be asked for."""
        self._loading_older = False

    def set_mention_names(self, names: Sequence[str]) -> None:
        """Set the names that mention the user (their entries are redrawn).

        Args:
            names: Username and display name.
        """
        names = tuple(n for n in names if n)
        if names != self.mention_names:
            self.mention_names = names
            self._cache.clear()
            self._rebuild()

    # --- rendering -------------------------------------------------------------------------------

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _render_entry(self, entry: Entry) -> list[Strip]:
        day = _day(entry.item.timestamp, self.tz)
        day_break = day != self._last_day
        self._last_day = day
        cached = self._cache.get(id(entry))
        if (
            cached is not None
            and cached[0] is entry
            and cached[1] == entry.version
            and cached[2] == self._width
            and cached[3] == day_break
        ):
            return cached[4]
        strips = render_entry(
            entry,
            self.app.console,
            self._width,
            tz=self.tz,
            day_break=day_break,
            mention_names=self.mention_names,
            name_of=self.name_of,
        )
        self._cache[id(entry)] = (entry, entry.version, self._width, day_break, strips)
        return strips

    def _update_in_place(self, entries: Sequence[Entry]) -> bool:
        # An ack or a late decryption usually keeps an entry's height: swap its lines instead of
        # rebuilding the whole channel (thousands of entries) for one of them.
        for entry in entries:
            start = self._starts.get(id(entry))
            cached = self._cache.get(id(entry))
            if start is None or cached is None or cached[0] is not entry or not self._width:
                return False
            old, day_break = cached[4], cached[3]
            new = render_entry(
                entry,
                self.app.console,
                self._width,
                tz=self.tz,
                day_break=day_break,
                mention_names=self.mention_names,
                name_of=self.name_of,
            )
            self._cache[id(entry)] = (entry, entry.version, self._width, day_break, new)
            shown = self._lines[start : start + len(old)]
            if len(new) != len(old) or any(a is not b for a, b in zip(shown, old, strict=True)):
                return False
            self._lines[start : start + len(old)] = new
        return True

    def _rebuild(self) -> None:
        self._width = self._content_width()
        self._last_day = None
        lines: list[Strip] = []
        starts: dict[int, int] = {}
        timeline = self.timeline
        if timeline is not None and self._width:
            live = set()
            for entry in timeline:
                live.add(id(entry))
                starts[id(entry)] = len(lines)
                lines.extend(self._render_entry(entry))
            if len(self._cache) > len(live) + 256:
                # Entries of other channels or forgotten ones: drop their rendering.
                self._cache = {k: v for k, v in self._cache.items() if k in live}
        self._lines = lines
        self._starts = starts
        self._set_virtual_size()
        self.refresh()

    def _set_virtual_size(self) -> None:
        size = Size(self._width, len(self._lines))
        if size == self.virtual_size:
            return
        # Without a layout pass: only this widget's lines changed, and a layout of the whole
        # screen for every message arriving would cost more than a frame's budget. The scrollbar
        # always has its column (overflow-y: scroll), so only its proportions change.
        self.set_reactive(MessageLog.virtual_size, size)
        bar = self.vertical_scrollbar
        bar.window_virtual_size = size.height
        bar.window_size = self.scrollable_content_region.height
        bar.refresh()

    def render_line(self, y: int) -> Strip:
        """One line of the view (Textual's line API).

        Args:
            y: The line on screen.

        Returns:
            The strip to draw.
        """
        index = round(self.scroll_y) + y
        width = self.size.width
        style = self._base_style
        if style is None:
            # Looked up once per style change, not per line: it walks the widget's ancestors.
            style = self._base_style = self.rich_style
        if 0 <= index < len(self._lines):
            return self._lines[index].crop_extend(0, width, style)
        return Strip.blank(width, style)

    def on_resize(self, _event: events.Resize) -> None:
        """Re-wrap every entry at the new width (kept at the bottom if it was there)."""
        if self._content_width() != self._width:
            at_bottom = self._at_bottom()
            self._rebuild()
            if at_bottom or not self._lines:
                self._stick_to_bottom()

    def notify_style_update(self) -> None:
        """Styles changed (theme): render again."""
        super().notify_style_update()
        self._base_style = None
        self._cache.clear()
        if self.is_mounted:
            self._rebuild()

    # --- scrolling -------------------------------------------------------------------------------

    def _stick_to_bottom(self) -> None:
        # Forced: while messages arrive in a burst, the scrollbar Textual would show for the new
        # height does not exist until the next layout, and an unforced scroll would be refused.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def _at_bottom(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Ask for older history at the top; report reaching the bottom."""
        super().watch_scroll_y(old_value, new_value)
        self._check_edges()

    def _check_edges(self) -> None:
        timeline = self.timeline
        if timeline is None:
            return
        at_top = round(self.scroll_y) <= 0
        if at_top and timeline.has_more and timeline.loaded and not self._loading_older:
            self._loading_older = True
            self.post_message(self.OlderWanted(timeline.channel_id, timeline.oldest_seq))
        if self._at_bottom() and timeline.newest_seq != self._reported_seq:
            self._reported_seq = timeline.newest_seq
            self.post_message(self.ReachedBottom(timeline.channel_id))

    def action_page_up(self) -> None:
        """Scroll a page up (loading older messages at the top)."""
        if round(self.scroll_y) <= 0:
            self._check_edges()
        self.scroll_page_up(animate=False)

    def action_page_down(self) -> None:
        """Scroll a page down."""
        self.scroll_page_down(animate=False)
