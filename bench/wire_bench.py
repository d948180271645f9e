"""Encode and decode throughput of the message events on one core.

Prints one JSON line: the frame size, and events per CPU second for encode (event -> frame text)
and decode (frame text -> event, fully validated) of ``channel.message.new`` (what a client
receives), each the best of several timed rounds, next to the bare stdlib ``json.loads`` /
``json.dumps`` of the same frame for scale; then the same two rates for ``channel.message.send``
(what a server receives) and for ``channel.message.new`` through the generic converter path (a
`Codec` without the fast paths, as the library was before them). The target (issue 3) is
>= 100,000/s for each of the four message rates. Runs in a few seconds.

Usage: ``python bench/wire_bench.py [--rounds N] [--count N] [--body-bytes N]``
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import cattrs

from dialtone.wire import Codec, ws
from dialtone.wire._hooks import register_hooks
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


def sample_send(body_bytes: int) -> ws.MessageSend:
    """The client's frame for the same message."""
    message = sample_event(body_bytes).message
    return ws.MessageSend(
        channel_id=message.channel_id,
        client_msg_id=message.client_msg_id,
        key_epoch=message.key_epoch,
        sealed_body=message.sealed_body,
        sealed_sender_name=message.sealed_sender_name,
        signature=message.signature,
    )


def generic_codec() -> Codec:
    """A codec on the same hooks as `make_converter`'s but not built by it: no fast paths."""
    return Codec(register_hooks(cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)))


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
    generic = generic_codec()
    event = sample_event(args.body_bytes)
    frame = codec.encode_ws(event)
    assert codec.decode_ws_server(frame) == event
    send = sample_send(args.body_bytes)
    send_frame = codec.encode_ws(send)
    assert codec.decode_ws_client(send_frame) == send
    assert generic.encode_ws(event) == frame
    assert generic.decode_ws_server(frame) == event

    def rate(func: Callable[[], object]) -> int:
        return round(best_rate(func, args.count, args.rounds))

    encode = rate(lambda: codec.encode_ws(event))
    decode = rate(lambda: codec.decode_ws_server(frame))
    parse_only = rate(lambda: json.loads(frame))
    plain = codec.unstructure(event)
    dumps_only = rate(lambda: json.dumps(plain))
    send_encode = rate(lambda: codec.encode_ws(send))
    send_decode = rate(lambda: codec.decode_ws_client(send_frame))
    generic_encode = rate(lambda: generic.encode_ws(event))
    generic_decode = rate(lambda: generic.decode_ws_server(frame))
    print(
        json.dumps(
            {
                "event": "channel.message.new",
                "frame_bytes": len(frame),
                "encode_per_s": encode,
                "decode_per_s": decode,
                "stdlib_json_loads_per_s": parse_only,
                "stdlib_json_dumps_per_s": dumps_only,
                "send_frame_bytes": len(send_frame),
                "send_encode_per_s": send_encode,
                "send_decode_per_s": send_decode,
                "generic_encode_per_s": generic_encode,
                "generic_decode_per_s": generic_decode,
                "target_per_s": TARGET_PER_S,
                "ok": min(encode, decode, send_encode, send_decode) >= TARGET_PER_S,
            }
        )
    )


if __name__ == "__main__":
    main()
