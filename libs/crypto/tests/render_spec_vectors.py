"""Rewrite the test-vector section of docs/protocol-crypto.md from tests/vectors/dialtone-v1.json.

Run after a deliberate format change (and regenerating the JSON, see dialtone.crypto.testing):
    python libs/crypto/tests/render_spec_vectors.py
Everything after the marker line in the spec is replaced. test_protocol_vectors.py checks that the
spec prints every vector value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SPEC = HERE.parents[2] / "docs" / "protocol-crypto.md"
MARKER = "<!-- Generated from here on by libs/crypto/tests/render_spec_vectors.py -->"
HEX = set("0123456789abcdef")


def _block(out: list[str], pairs: list[tuple[str, object]]) -> None:
    out.append("```")
    for name, value in pairs:
        text = str(value)
        if len(text) > 64 and set(text) <= HEX:
            out.append(f"{name}:")
            out.extend(f"  {text[i : i + 64]}" for i in range(0, len(text), 64))
        else:
            out.append(f"{name}: {text}")
    out.extend(["```", ""])


def _json(out: list[str], title: str, value: object) -> None:
    out.extend([f"{title}:", "", "```json", json.dumps(value, indent=2), "```", ""])


def _escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def render(vectors: dict[str, Any]) -> str:
    """The markdown of the vector section."""
    out: list[str] = ["### Devices", ""]
    devices = vectors["devices"]
    for name, device in devices.items():
        out.extend([f"{name}:", ""])
        _block(
            out,
            [
                ("ed25519 seed", device["ed25519_seed"]),
                ("x25519 private", device["x25519_private"]),
                ("ed25519 public", device["ed25519_public"]),
                ("x25519 public", device["x25519_public"]),
                ("bundle signing input", device["bundle_signing_input"]),
                ("bundle signature", device["bundle_signature"]),
                ("device id", device["device_id"]),
                ("fingerprint", device["fingerprint"]),
            ],
        )
        _json(out, f"{name}'s bundle in JSON", device["json"])

    out.extend(["### Keys", ""])
    channel, directory = vectors["channel_key"], vectors["directory_key"]
    _block(
        out,
        [
            ("channel id", channel["channel_id"]),
            ("channel epoch", channel["epoch"]),
            ("channel key", channel["secret"]),
            ("directory owner id (Alice's user id)", directory["owner_id"]),
            ("directory epoch", directory["epoch"]),
            ("directory key", directory["secret"]),
        ],
    )

    message = vectors["message"]
    plain = message["plaintext"]
    out.extend(
        [
            f"### A chat message (device alice, channel `{channel['channel_id']}`, epoch "
            f"{channel['epoch']})",
            "",
            f"Body `{_escaped(plain['body'])}` (UTF-8, JSON-escaped here), sender name "
            f"`{plain['sender_name']}`.",
            "",
        ]
    )
    pairs: list[tuple[str, object]] = [
        ("message id bytes", message["message_id_bytes"]),
        ("message id", message["message_id"]),
        ("context", message["context"]),
    ]
    for field in message["sealed"]:
        pairs += [
            (f"{field} nonce", message["nonce"][field]),
            (f"{field} padded", message["padded"][field]),
            (f"{field} associated data", message["associated_data"][field]),
            (f"{field} sealed", message["sealed"][field]),
        ]
    pairs += [("signing input", message["signing_input"]), ("signature", message["signature"])]
    _block(out, pairs)
    _json(out, "JSON form", message["json"])

    profile = vectors["profile"]
    out.extend(
        [
            f"### A profile display name (device alice, Alice's directory entry, epoch "
            f"{directory['epoch']}, message id `{profile['message_id']}`)",
            "",
            f"Profile name `{profile['plaintext']['profile_name']}`.",
            "",
        ]
    )
    _block(
        out,
        [
            ("context", profile["context"]),
            ("nonce", profile["nonce"]["profile_name"]),
            ("padded", profile["padded"]["profile_name"]),
            ("associated data", profile["associated_data"]["profile_name"]),
            ("sealed", profile["sealed"]["profile_name"]),
            ("signing input", profile["signing_input"]),
            ("signature", profile["signature"]),
        ],
    )
    _json(out, "JSON form", profile["json"])

    envelope = vectors["envelope"]
    out.extend(["### An envelope (the channel key, from Alice to Bob)", ""])
    names = [
        "ephemeral_private",
        "ephemeral_public",
        "shared_secret",
        "header",
        "hkdf_info",
        "wrap_key",
        "wrap_nonce",
        "associated_data",
        "ciphertext",
        "signing_input",
        "signature",
        "bytes",
    ]
    _block(out, [(name.replace("_", " "), envelope[name]) for name in names])
    _json(out, "JSON form", envelope["json"])

    approval = vectors["device_approval"]
    out.extend(
        [
            f"### Device approval (device {approval['approver']} vouches for device "
            f"{approval['device']} of user `{approval['user_id']}`)",
            "",
        ]
    )
    _block(
        out,
        [("signing input", approval["signing_input"]), ("signature", approval["signature"])],
    )

    safety = vectors["safety_number"]
    out.extend(
        [
            f"### Safety number (user `{safety['alice_user']}` with device alice, user "
            f"`{safety['bob_user']}` with device bob)",
            "",
        ]
    )
    _block(
        out,
        [
            ("alice half", safety["alice_half"]),
            ("bob half", safety["bob_half"]),
            ("safety number", safety["number"]),
        ],
    )

    usernames = vectors["usernames"]
    out.extend(["### Usernames", "", f"Pepper `{usernames['pepper']}`.", ""])
    out.extend(["| input (JSON-escaped) | normalized | username_hash |", "| --- | --- | --- |"])
    for case in usernames["cases"]:
        out.append(f"| `{_escaped(case['input'])}` | `{case['normalized']}` | `{case['hash']}` |")
    out.append("")

    password = vectors["password"]
    out.extend(["### Password hash", ""])
    _block(
        out,
        [
            ("password", password["password"]),
            ("parameters", f"N=2^{password['log2_n']}, r={password['r']}, p={password['p']}"),
            ("salt", password["salt"]),
            ("scrypt output (32 bytes)", password["hash"]),
            ("encoded", password["encoded"]),
        ],
    )

    b64 = vectors["base64url"]
    out.extend(["### base64url", ""])
    _block(out, [("bytes", b64["input"]), ("text", b64["encoded"])])
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    vectors = json.loads((HERE / "vectors" / "dialtone-v1.json").read_text())
    spec = SPEC.read_text()
    head, marker, _ = spec.partition(MARKER)
    if not marker:
        raise SystemExit(f"{SPEC}: marker line not found")
    SPEC.write_text(head + MARKER + "\n\n" + render(vectors))


if __name__ == "__main__":
    main()
