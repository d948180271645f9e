"""Size limits of the Dialtone wire protocol.

Every decoder enforces these; an input over a limit is a `ProtocolError`, never a slow parse or a
database error further in. Byte limits count UTF-8 bytes of the encoded frame; ``*_BYTES`` limits of
byte fields count decoded bytes; ``*_CHARS`` limits count Unicode code points.
"""

from __future__ import annotations

from typing import Final

# Frames. A WebSocket frame must hold one maximal channel message (sealed body + names as base64)
# and an SDP with room to spare; an HTTP request, one envelope per device of a full channel.
MAX_WS_FRAME_BYTES: Final = 256 * 1024
MAX_IPC_LINE_BYTES: Final = 256 * 1024
MAX_HTTP_REQUEST_BYTES: Final = 1024 * 1024
MAX_HTTP_RESPONSE_BYTES: Final = 32 * 1024 * 1024

# Opaque byte fields (decoded sizes). The crypto layer checks exact sizes; these only bound them.
MAX_SEALED_BODY_BYTES: Final = 32 * 1024
MAX_SEALED_NAME_BYTES: Final = 1024
MAX_SEALED_KEY_BYTES: Final = 1024
MAX_SIGNATURE_BYTES: Final = 128
MAX_PUBLIC_KEY_BYTES: Final = 64

# Text fields (code points).
MAX_USERNAME_CHARS: Final = 64
MAX_PASSWORD_CHARS: Final = 1024
MAX_TEXT_CHARS: Final = 1024
MAX_NOTE_CHARS: Final = 200
MAX_NAME_CHARS: Final = 64
MAX_CODE_CHARS: Final = 64
MAX_URL_CHARS: Final = 512
MAX_SDP_CHARS: Final = 32 * 1024
MAX_ICE_CANDIDATE_CHARS: Final = 1024
MAX_CLIENT_MSG_ID_CHARS: Final = 64
MAX_TOKEN_CHARS: Final = 256
MIN_TOKEN_CHARS: Final = 16

# Integers: every integer on the wire fits a JavaScript number exactly.
MAX_SAFE_INT: Final = 2**53 - 1
MAX_EPOCH: Final = 2**31 - 1

# Lists.
MAX_HISTORY_LIMIT: Final = 200
DEFAULT_HISTORY_LIMIT: Final = 50
MAX_CHANNELS_PER_USER: Final = 1000
MAX_CHANNEL_MEMBERS: Final = 256
MAX_DEVICES_PER_USER: Final = 8
MAX_CHANNEL_DEVICES: Final = MAX_CHANNEL_MEMBERS * MAX_DEVICES_PER_USER
MAX_ENVELOPES_PER_REQUEST: Final = MAX_CHANNEL_DEVICES
MAX_ENVELOPES_PER_RESPONSE: Final = 4096
MAX_SESSIONS: Final = 256
MAX_INVITES: Final = 1000
MAX_PROFILES: Final = 1000
MAX_PRESENCE: Final = 1000
MAX_ICE_SERVERS: Final = 16
MAX_ICE_URLS: Final = 16
MAX_VOICE_PARTICIPANTS: Final = 32
MAX_PROTOCOL_VERSIONS: Final = 16

# Invites live between a minute and thirty days.
MIN_INVITE_TTL_SECONDS: Final = 60
MAX_INVITE_TTL_SECONDS: Final = 30 * 24 * 3600
DEFAULT_INVITE_TTL_SECONDS: Final = 7 * 24 * 3600
