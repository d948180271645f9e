"""`Deps`: the objects every service needs, assembled once the application has started."""

from __future__ import annotations

import attrs

from dialtone.server.clock import Clock
from dialtone.server.config import ServerConfig
from dialtone.server.services.events import EventPublisher, PresenceSource
from dialtone.server.services.passwords import PasswordHasher
from dialtone.server.storage import Storage


@attrs.frozen(kw_only=True)
class Deps:
    """What services work with.

    Attributes:
        config: The configuration.
        storage: The storage facade.
        events: The realtime notifier.
        presence: The realtime presence view.
        clock: The time source.
        hasher: The password hasher.
    """

    config: ServerConfig
    storage: Storage
    events: EventPublisher
    presence: PresenceSource
    clock: Clock
    hasher: PasswordHasher

    @property
    def pepper(self) -> bytes:
        """The username pepper (always set once the app runs)."""
        assert self.config.username_pepper is not None
        return self.config.username_pepper
