"""The lines of one channel's message view, kept in order, without any UI.

A `Timeline` holds what the message view of one channel shows: verified messages, placeholders of
messages that cannot be read (with the reason), our own pending messages, and local lines (command
output, notices). Live items are appended in arrival order; history pages are merged in by
sequence number, older ones at the top. Every change returns a `Change` saying what the view must
redraw, so the view can update a few lines instead of the whole channel.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeAlias

import attrs

from dialtone.client.core.events import DecryptedMessage, FailedMessage, HistoryPage

__all__ = ["Change", "ChangeKind", "Entry", "LineLevel", "LocalLine", "Timeline", "TimelineItem"]


class LineLevel(enum.StrEnum):
    """How a local line is shown."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@attrs.frozen(kw_only=True)
class LocalLine:
    """A line written by this client (command output, a notice), not a message.

    Attributes:
        text: The text (may hold several lines).
        at: When it was written.
        level: How loud it is.
    """

    text: str
    at: datetime
    level: LineLevel = LineLevel.INFO

    @property
    def timestamp(self) -> datetime:
        """The time to show."""
        return self.at


TimelineItem: TypeAlias = DecryptedMessage | FailedMessage | LocalLine
"""What one entry of a timeline shows."""


@attrs.define(eq=False)
class Entry:
    """One entry of a timeline. The object stays the same when its item is replaced (an ack, a
    placeholder that could be read after all), so views can cache by identity + `version`.

    Attributes:
        item: What it shows.
        note: A remark shown after it, e.g. why one of our messages was not sent.
        version: Bumped on every change of `item` or `note`.
    """

    item: TimelineItem
    note: str | None = None
    version: int = 0

    @property
    def seq(self) -> int | None:
        """The server's sequence number, or None (pending, or a local line)."""
        item = self.item
        return None if isinstance(item, LocalLine) else item.seq

    def replace(self, item: TimelineItem, note: str | None = None) -> None:
        """Show another item in this entry's place.

        Args:
            item: The new item.
            note: The new note.
        """
        self.item = item
        self.note = note
        self.version += 1


class ChangeKind(enum.Enum):
    """What kind of change a timeline went through."""

    NONE = "none"
    APPENDED = "appended"
    PREPENDED = "prepended"
    UPDATED = "updated"
    RESET = "reset"


@attrs.frozen
class Change:
    """What a view of the timeline must redraw.

    Attributes:
        kind: Nothing; entries appended at the end; entries added at the top; entries changed in
            place; or anything else (redraw everything).
        entries: The entries appended, prepended or updated.
    """

    kind: ChangeKind
    entries: tuple[Entry, ...] = ()


NO_CHANGE = Change(ChangeKind.NONE)


class Timeline:
    """The entries of one channel, oldest first.

    Args:
        channel_id: The channel.
    """

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        self.entries: list[Entry] = []
        self.has_more = True
        """Whether older history may exist before the first entry (set from the pages loaded)."""
        self.loaded = False
        """Whether the newest history page was merged in."""
        self._by_seq: dict[int, Entry] = {}
        self._by_msg_id: dict[str, Entry] = {}
        self._oldest: int | None = None
        self._newest: int | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    @property
    def oldest_seq(self) -> int | None:
        """The smallest sequence number shown (the ``before`` of the next older page)."""
        return self._oldest

    @property
    def newest_seq(self) -> int | None:
        """The largest sequence number shown (what a read marker can move to)."""
        return self._newest

    def _index(self, entry: Entry) -> None:
        item = entry.item
        if isinstance(item, LocalLine):
            return
        if item.seq is not None:
            self._by_seq[item.seq] = entry
            if self._oldest is None or item.seq < self._oldest:
                self._oldest = item.seq
            if self._newest is None or item.seq > self._newest:
                self._newest = item.seq
        if isinstance(item, DecryptedMessage) and item.own:
            self._by_msg_id[item.client_msg_id] = entry

    def _find(self, item: DecryptedMessage | FailedMessage) -> Entry | None:
        if item.seq is not None and item.seq in self._by_seq:
            return self._by_seq[item.seq]
        if isinstance(item, DecryptedMessage) and item.own:
            return self._by_msg_id.get(item.client_msg_id)
        return None

    def add(self, item: DecryptedMessage | FailedMessage) -> Change:
        """Show a live message, placeholder or pending message of ours.

        A message already shown (the server's copy of one of our pending messages, a replay
        after a reconnect) replaces its entry instead of being shown twice.

        Args:
            item: The item.

        Returns:
            APPENDED, or UPDATED when it replaced an entry.
        """
        found = self._find(item)
        if found is not None:
            found.replace(item)
            self._index(found)
            return Change(ChangeKind.UPDATED, (found,))
        entry = Entry(item)
        self.entries.append(entry)
        self._index(entry)
        return Change(ChangeKind.APPENDED, (entry,))

    def add_local(self, line: LocalLine) -> Change:
        """Show a local line at the end.

        Args:
            line: The line.

        Returns:
            APPENDED.
        """
        entry = Entry(line)
        self.entries.append(entry)
        return Change(ChangeKind.APPENDED, (entry,))

    def ack(self, client_msg_id: str, seq: int, server_ts: datetime) -> Change:
        """Mark one of our messages as stored by the server.

        Args:
            client_msg_id: The message.
            seq: Its sequence number.
            server_ts: When it was stored.

        Returns:
            UPDATED, or no change for a message not shown here.
        """
        entry = self._by_msg_id.get(client_msg_id)
        if entry is None or not isinstance(entry.item, DecryptedMessage):
            return NO_CHANGE
        entry.replace(attrs.evolve(entry.item, seq=seq, server_ts=server_ts, pending=False))
        self._index(entry)
        return Change(ChangeKind.UPDATED, (entry,))

    def reject(self, client_msg_id: str, why: str) -> Change:
        """Mark one of our messages as refused by the server (it is no longer queued).

        Args:
            client_msg_id: The message.
            why: The reason to show.

        Returns:
            UPDATED, or no change for a message not shown here.
        """
        entry = self._by_msg_id.get(client_msg_id)
        if entry is None or not isinstance(entry.item, DecryptedMessage):
            return NO_CHANGE
        entry.replace(attrs.evolve(entry.item, pending=False), note=f"not sent: {why}")
        return Change(ChangeKind.UPDATED, (entry,))

    def merge_page(self, page: HistoryPage) -> Change:
        """Merge a history page: new items go in by sequence number, known ones are replaced
        (a "no key yet" placeholder that can be read now).

        Args:
            page: The page, oldest first.

        Returns:
            PREPENDED when every new item is older than everything shown (scrolling back),
            APPENDED or UPDATED when that describes it, else RESET.
        """
        older_than_all = self.oldest_seq
        page_oldest = page.oldest_seq
        if page_oldest is None or older_than_all is None or page_oldest <= older_than_all:
            # Only a page reaching back past everything shown (or an empty one: nothing older)
            # says whether more history exists.
            self.has_more = page.has_more
        self.loaded = True
        updated: list[Entry] = []
        fresh: list[Entry] = []
        for item in page.items:
            found = self._find(item)
            if found is not None:
                if found.item != item:
                    found.replace(item)
                    self._index(found)
                    updated.append(found)
                continue
            fresh.append(Entry(item))
        if not fresh:
            return Change(ChangeKind.UPDATED, tuple(updated)) if updated else NO_CHANGE
        fresh_max = max(e.seq or 0 for e in fresh)
        if not self.entries:
            self.entries = fresh
            self._reindex(fresh)
            return Change(ChangeKind.APPENDED, tuple(fresh))
        if (older_than_all is None or fresh_max < older_than_all) and not updated:
            # History is older than everything shown, local lines and pending messages included.
            self.entries[0:0] = fresh
            self._reindex(fresh)
            return Change(ChangeKind.PREPENDED, tuple(fresh))
        self._insert_in_order(fresh)
        return Change(ChangeKind.RESET)

    def _reindex(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._index(entry)

    def _insert_in_order(self, fresh: list[Entry]) -> None:
        # Rare path (a page overlapping live messages): place each item before the first
        # sequenced entry with a larger number; local lines and pending messages keep their place.
        for entry in fresh:
            seq = entry.seq or 0
            position = len(self.entries)
            for index, existing in enumerate(self.entries):
                existing_seq = existing.seq
                if existing_seq is not None and existing_seq > seq:
                    position = index
                    break
            self.entries.insert(position, entry)
            self._index(entry)

    def clear(self) -> Change:
        """Forget every entry (the next page load starts afresh).

        Returns:
            RESET.
        """
        self.entries.clear()
        self._by_seq.clear()
        self._by_msg_id.clear()
        self._oldest = self._newest = None
        self.has_more = True
        self.loaded = False
        return Change(ChangeKind.RESET)
