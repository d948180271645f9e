"""Channel and directory keys: the keystore's bytes as dialtone.crypto `ChannelKey` objects.

Channel keys and our own directory key live in the keystore (they must survive restarts). Other
users' directory keys (scope: their own directory) are kept in memory only: the keystore holds one
directory per server, and their envelopes stay on the server to be fetched again at the next login.
"""

from __future__ import annotations

from dialtone.crypto import ChannelKey, Scope, ScopeKind
from dialtone.keystore import KeyConflict, Keystore

__all__ = ["KeyRing"]


class KeyRing:
    """Keys of one server's channels and directories, by epoch.

    Args:
        store: The unlocked keystore.
        server: The keystore's server key (normalized URL).
        user_id: Our user (owner of our directory key).
    """

    def __init__(self, store: Keystore, server: str, *, user_id: str) -> None:
        self._store = store
        self._server = server
        self._user_id = user_id
        self._channel_cache: dict[tuple[str, int], ChannelKey] = {}
        self._directories: dict[str, dict[int, ChannelKey]] = {}

    # --- channel keys --------------------------------------------------------------------------

    def channel_key(self, channel_id: str, epoch: int) -> ChannelKey | None:
        """The key of a channel at an epoch, or None if this device has none."""
        cached = self._channel_cache.get((channel_id, epoch))
        if cached is not None:
            return cached
        secret = self._store.channel_key(self._server, channel_id, epoch)
        if secret is None:
            return None
        key = ChannelKey(Scope.channel(channel_id), epoch, secret)
        self._channel_cache[(channel_id, epoch)] = key
        return key

    def latest_channel_key(self, channel_id: str) -> ChannelKey | None:
        """The key of the highest epoch held for a channel."""
        epoch = self._store.latest_channel_epoch(self._server, channel_id)
        return None if epoch is None else self.channel_key(channel_id, epoch)

    def channel_keys(self, channel_id: str) -> list[ChannelKey]:
        """Every key held for a channel, oldest epoch first."""
        keys = []
        for epoch in self._store.channel_epochs(self._server, channel_id):
            key = self.channel_key(channel_id, epoch)
            if key is not None:
                keys.append(key)
        return keys

    def put_channel_key(self, key: ChannelKey) -> bool:
        """Keep a channel key.

        Args:
            key: The key (its scope names the channel).

        Returns:
            True if new, False if already held.

        Raises:
            KeyConflict: A different key is held for that channel and epoch (the first one wins).
            ValueError: The key is not a channel key.
        """
        if key.scope.kind is not ScopeKind.CHANNEL:
            raise ValueError("not a channel key")
        channel_id = key.scope.id
        added = self._store.put_channel_key(self._server, channel_id, key.epoch, key.secret)
        self._channel_cache[(channel_id, key.epoch)] = key
        return added

    def forget_channel(self, channel_id: str) -> None:
        """Drop every key of a channel (deleted, or we left)."""
        self._store.forget_channel(self._server, channel_id)
        for slot in [slot for slot in self._channel_cache if slot[0] == channel_id]:
            del self._channel_cache[slot]

    # --- directory keys ------------------------------------------------------------------------

    def own_directory_key(self) -> ChannelKey | None:
        """Our directory key of the highest epoch, or None."""
        epoch = self._store.latest_directory_epoch(self._server)
        return None if epoch is None else self.directory_key(self._user_id, epoch)

    def directory_key(self, owner_user_id: str, epoch: int) -> ChannelKey | None:
        """A user's directory key at an epoch, or None."""
        held = self._directories.get(owner_user_id, {}).get(epoch)
        if held is not None or owner_user_id != self._user_id:
            return held
        secret = self._store.directory_key(self._server, epoch)
        if secret is None:
            return None
        key = ChannelKey(Scope.directory(owner_user_id), epoch, secret)
        self._directories.setdefault(owner_user_id, {})[epoch] = key
        return key

    def put_directory_key(self, owner_user_id: str, key: ChannelKey) -> bool:
        """Keep a user's directory key (ours goes to the keystore).

        Returns:
            True if new.

        Raises:
            KeyConflict: A different key is held for that owner and epoch.
        """
        by_epoch = self._directories.setdefault(owner_user_id, {})
        held = by_epoch.get(key.epoch)
        if held is not None:
            if held != key:
                raise KeyConflict(f"a different directory key of {owner_user_id} is held")
            return False
        if owner_user_id == self._user_id:
            self._store.put_directory_key(self._server, key.epoch, key.secret)
        by_epoch[key.epoch] = key
        return True
