"""Encode and decode throughput of a ``channel.message.new`` WebSocket event on one core.

Prints one JSON line: the frame size, and events per CPU second for encode (event -> frame text)
and decode (frame text -> event, fully validated), each the best of several timed rounds, next to
the bare stdlib ``json.loads``/``json.dumps`` of the same frame for scale. The target
(issue 3) is >= 100,000/s each. Runs in a few seconds.

Usage: ``python bench/wire_bench.py [--rounds N] [--count N] [--body-bytes N]``
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from dialtone.wire import Codec, ws
from dialtone.wire.http import ChannelMessage

TARGET_PER_S = 100_000


def sample_event(body_bytes: int) -> ws.MessageNew:
    """A message event with a sealed body of `body_bytes` (nonce + ciphertext + tag)."""
    return ws.MessageNew(
        message=ChannelMessage(
            channel_id="0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a001",
            seq=123_456,
            client_msg_id="5b0c3c55-9a36-4f0e-8a0f-1f8f6f1c2d3e",
            sender_user_id="0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a002",
            sender_device_id="0e4f6a52-8a0a-4c1e-9a57-6c4b1ad7a003",
            key_epoch=3,
            sealed_body=os.urandom(body_bytes),
            sealed_sender_name=os.urandom(12 + 64 + 16),
            signature=os.urandom(64),
            server_ts=datetime.now(UTC),
        )
    )


def best_rate(func: Callable[[], object], count: int, rounds: int) -> float:
    """Calls per CPU second of `func`, best of `rounds` rounds of `count` calls.

    CPU time of this process, not wall time: the machine is shared, and time spent waiting for a
    core is not time the codec spends.
    """
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            func()
        best = min(best, time.process_time() - start)
    return count / best


def main() -> None:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=25_000)
    # A 200-byte message padded to a 256-byte bucket, plus a 12-byte nonce and a 16-byte tag.
    parser.add_argument("--body-bytes", type=int, default=256 + 12 + 16)
    args = parser.parse_args()

    codec = Codec()
    event = sample_event(args.body_bytes)
    frame = codec.encode_ws(event)
    assert codec.decode_ws_server(frame) == event

    encode = best_rate(lambda: codec.encode_ws(event), args.count, args.rounds)
    decode = best_rate(lambda: codec.decode_ws_server(frame), args.count, args.rounds)
    parse_only = best_rate(lambda: json.loads(frame), args.count, args.rounds)
    plain = codec.unstructure(event)
    dumps_only = best_rate(lambda: json.dumps(plain), args.count, args.rounds)
    print(
        json.dumps(
            {
                "event": "channel.message.new",
                "frame_bytes": len(frame),
                "encode_per_s": round(encode),
                "decode_per_s": round(decode),
                "stdlib_json_loads_per_s": round(parse_only),
                "stdlib_json_dumps_per_s": round(dumps_only),
                "target_per_s": TARGET_PER_S,
                "ok": encode >= TARGET_PER_S and decode >= TARGET_PER_S,
            }
        )
    )


if __name__ == "__main__":
    main()
