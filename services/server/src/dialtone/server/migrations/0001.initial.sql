-- Dialtone server schema, version 1.
-- Content (channel names, display names, message bodies, sender names, key envelopes) is opaque
-- client ciphertext (bytea) with the sender's signature. Usernames exist only as peppered
-- HMAC-SHA256 hashes, passwords as scrypt hashes, session and invite tokens as SHA-256 digests.
-- depends:

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    username_hash   bytea NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    is_admin        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL
);

CREATE TABLE devices (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id),
    x25519_public       bytea NOT NULL,
    ed25519_public      bytea NOT NULL,
    key_signature       bytea NOT NULL,
    created_at          timestamptz NOT NULL,
    approved_at         timestamptz,
    approved_by         uuid REFERENCES devices (id),
    approval_signature  bytea,
    revoked_at          timestamptz
);
CREATE INDEX devices_user_idx ON devices (user_id);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    token_digest    bytea NOT NULL UNIQUE,
    user_id         uuid NOT NULL REFERENCES users (id),
    device_id       uuid NOT NULL REFERENCES devices (id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    last_used_at    timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_device_idx ON sessions (device_id);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

CREATE TABLE invites (
    id              uuid PRIMARY KEY,
    token_digest    bytea NOT NULL UNIQUE,
    created_by      uuid REFERENCES users (id),
    note            text,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_by         uuid REFERENCES users (id),
    revoked_at      timestamptz
);

CREATE TABLE channels (
    id              uuid PRIMARY KEY,
    key_epoch       integer NOT NULL CHECK (key_epoch >= 1),
    name_epoch      integer NOT NULL,
    name_device_id  uuid NOT NULL REFERENCES devices (id),
    sealed_name     bytea NOT NULL,
    name_signature  bytea NOT NULL,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- The per-channel message counter has its own row: appending a message locks it, and that lock
-- must not contend with renames, rotations or membership changes on the channel row.
CREATE TABLE channel_sequences (
    channel_id      uuid PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    last_seq        bigint NOT NULL DEFAULT 0
);

CREATE TABLE channel_members (
    channel_id      uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    added_by        uuid REFERENCES users (id),
    added_at        timestamptz NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user_idx ON channel_members (user_id);

CREATE TABLE channel_key_envelopes (
    channel_id          uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    key_epoch           integer NOT NULL,
    recipient_device_id uuid NOT NULL REFERENCES devices (id),
    sender_device_id    uuid NOT NULL REFERENCES devices (id),
    sealed_key          bytea NOT NULL,
    signature           bytea NOT NULL,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (channel_id, key_epoch, recipient_device_id)
);
CREATE INDEX channel_key_envelopes_recipient_idx ON channel_key_envelopes (recipient_device_id);

CREATE TABLE messages (
    channel_id          uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq                 bigint NOT NULL,
    client_msg_id       text NOT NULL,
    sender_user_id      uuid NOT NULL REFERENCES users (id),
    sender_device_id    uuid NOT NULL REFERENCES devices (id),
    key_epoch           integer NOT NULL,
    sealed_body         bytea NOT NULL,
    sealed_sender_name  bytea NOT NULL,
    signature           bytea NOT NULL,
    server_ts           timestamptz NOT NULL,
    PRIMARY KEY (channel_id, seq),
    UNIQUE (channel_id, sender_device_id, client_msg_id)
);

CREATE TABLE read_markers (
    user_id         uuid NOT NULL REFERENCES users (id),
    channel_id      uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, channel_id)
);

-- Directory: each user's display name sealed with that user's own directory key, whose envelopes
-- go to the devices of the users they trust.
CREATE TABLE profiles (
    user_id             uuid PRIMARY KEY REFERENCES users (id),
    device_id           uuid NOT NULL REFERENCES devices (id),
    key_epoch           integer NOT NULL,
    sealed_display_name bytea NOT NULL,
    signature           bytea NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE directory_key_envelopes (
    owner_user_id       uuid NOT NULL REFERENCES users (id),
    key_epoch           integer NOT NULL,
    recipient_device_id uuid NOT NULL REFERENCES devices (id),
    sender_device_id    uuid NOT NULL REFERENCES devices (id),
    sealed_key          bytea NOT NULL,
    signature           bytea NOT NULL,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (owner_user_id, key_epoch, recipient_device_id)
);
CREATE INDEX directory_key_envelopes_recipient_idx
    ON directory_key_envelopes (recipient_device_id);

-- The status a user chose (online/away/dnd/offline); whether they are connected comes from the
-- realtime side.
CREATE TABLE presence (
    user_id         uuid PRIMARY KEY REFERENCES users (id),
    status          text NOT NULL CHECK (status IN ('online', 'away', 'dnd', 'offline')),
    updated_at      timestamptz NOT NULL
);
