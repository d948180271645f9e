"""dialtone-crypto throughput on one core: seal+sign and verify+open of a 200-byte message.

Plain script, about 20 s. Prints operations per second for the protocol operations and for the
bare primitives they are made of (the ceiling they cannot beat), each the best of several
rounds. The process is pinned to one CPU. Rates are given per second of this process's CPU
time (what one dedicated core does) and per wall-clock second (lower when other work shares
the machine).

    python bench/crypto_bench.py            # print numbers and whether each target is met
    python bench/crypto_bench.py --check    # also exit 1 if a target is missed

Issue 3's targets: seal+sign and verify+open of a 200-byte message each >= 20,000/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair

from dialtone.crypto import (
    ChannelKey,
    DeviceIdentity,
    SealedMessage,
    make_envelope,
    open_envelope,
    open_message,
    seal_message,
)

TARGET = 20_000
BODY = "x" * 200  # 200 UTF-8 bytes
POOL = 512  # distinct messages, so verification never sees the same input twice in a row


def measure(run: Callable[[int], object], seconds: float, rounds: int) -> tuple[float, float]:
    """Best (CPU-time rate, wall-clock rate) over `rounds` rounds of about `seconds` each."""
    best_cpu = best_wall = 0.0
    batch = 64
    for _ in range(rounds):
        count = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while True:
            for i in range(batch):
                run(count + i)
            count += batch
            wall = time.perf_counter() - wall0
            if wall >= seconds:
                break
        cpu = time.process_time() - cpu0
        best_cpu = max(best_cpu, count / cpu) if cpu > 0 else best_cpu
        best_wall = max(best_wall, count / wall)
    return best_cpu, best_wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})

    alice, bob = DeviceIdentity.generate(), DeviceIdentity.generate()
    bundle = alice.public_bundle
    key = ChannelKey.generate("general", epoch=1)
    sealed = [seal_message(alice, key, BODY) for _ in range(POOL)]
    as_json = [message.to_dict() for message in sealed]
    envelopes = [make_envelope(alice, bob.public_bundle, key) for _ in range(64)]
    signing_inputs = [message.signing_input() for message in sealed]
    signatures = [message.signature for message in sealed]
    ed_private = Ed25519PrivateKey.from_private_bytes(alice.signing_key.seed)
    ed_public = Ed25519PublicKey.from_public_bytes(bundle.ed25519_public)
    _, sodium_secret = crypto_sign_seed_keypair(alice.signing_key.seed)
    aesgcm, nonce, padded = AESGCM(key.secret), os.urandom(12), os.urandom(256)

    s, short = args.seconds, args.seconds / 2
    rows: list[tuple[str, Callable[[int], object], float, int, bool]] = [
        ("seal+sign 200 B message", lambda i: seal_message(alice, key, BODY), s, 5, True),
        (
            "verify+open 200 B message",
            lambda i: open_message(sealed[i % POOL], key=key, sender=bundle),
            s,
            5,
            True,
        ),
        (
            "  parse JSON form + verify+open",
            lambda i: open_message(
                SealedMessage.from_dict(as_json[i % POOL]), key=key, sender=bundle
            ),
            short,
            3,
            False,
        ),
        (
            "  bare Ed25519 sign (libsodium, used)",
            lambda i: crypto_sign(signing_inputs[i % POOL], sodium_secret),
            short,
            3,
            False,
        ),
        (
            "  bare Ed25519 verify (libsodium, used)",
            lambda i: crypto_sign_open(
                signatures[i % POOL] + signing_inputs[i % POOL], bundle.ed25519_public
            ),
            short,
            3,
            False,
        ),
        (
            "  bare Ed25519 sign (OpenSSL, for comparison)",
            lambda i: ed_private.sign(signing_inputs[i % POOL]),
            short,
            3,
            False,
        ),
        (
            "  bare Ed25519 verify (OpenSSL, for comparison)",
            lambda i: ed_public.verify(signatures[i % POOL], signing_inputs[i % POOL]),
            short,
            3,
            False,
        ),
        (
            "  bare AES-256-GCM seal 256 B",
            lambda i: aesgcm.encrypt(nonce, padded, b"ad"),
            short,
            3,
            False,
        ),
        ("make envelope", lambda i: make_envelope(alice, bob.public_bundle, key), short, 3, False),
        (
            "open envelope",
            lambda i: open_envelope(envelopes[i % 64], bob, sender=bundle),
            short,
            3,
            False,
        ),
    ]

    print(
        f"dialtone-crypto benchmark: Python {platform.python_version()}, {platform.machine()}, "
        f"pinned to one CPU; best of several rounds"
    )
    print(f"{'operation':46} {'ops/s (CPU time)':>17} {'ops/s (wall)':>13}  target {TARGET:,}/s")
    missed = []
    for name, run, seconds, rounds, targeted in rows:
        cpu_rate, wall_rate = measure(run, seconds, rounds)
        verdict = ""
        if targeted:
            verdict = "met" if cpu_rate >= TARGET else "MISSED"
            if cpu_rate < TARGET:
                missed.append(name)
        print(f"{name:46} {cpu_rate:17,.0f} {wall_rate:13,.0f}  {verdict}")
    if missed:
        print(f"below target: {', '.join(missed)} (see docs/perf-crypto.md)")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
