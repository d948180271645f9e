"""The UI-free client core: `ClientCore`, its options, its events and its errors.

The TUI imports only from here::

    from dialtone.client.core import ClientCore, ClientOptions, events
"""

from dialtone.client.core import errors, events
from dialtone.client.core.client import ClientCore
from dialtone.client.core.options import ClientOptions

__all__ = ["ClientCore", "ClientOptions", "errors", "events"]
