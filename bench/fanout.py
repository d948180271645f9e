"""Fan-out benchmark of dialtone-server: M members of one channel, S of them sending.

Starts a throwaway PostgreSQL (durable: fsync and synchronous_commit on, as in production) and a
real `python -m dialtone.server serve` process, registers M users over HTTP, puts them in one
channel and connects all of them over /v1/ws. Then S of them send, together, R messages per second
of B-byte ciphertext for D seconds. Every member but the sender must receive each message (the
sender gets its ack), so `expected = sent * (M - 1)`. Latency is from the moment a sender wrote a
message to the moment a member read it (one clock: this process). Prints ONE JSON line:

    M S R D B sent expected received lost delivered_per_s lat_p50_ms lat_p95_ms lat_p99_ms
    lat_max_ms server_cpu_s server_peak_rss_mb

`server_cpu_s` is the server process's user+system CPU during the send window and the drain after
it; PostgreSQL's CPU is not in it. The load client is this process, on the same machine, with a
minimal WebSocket reader (asyncio protocol, one `find` per frame) so that the client costs as
little CPU as possible; it stops by itself.

    .venv/bin/python bench/fanout.py --members 100 --senders 10 --rate 100 --duration 10
    .venv/bin/python bench/fanout.py --members 200 --senders 10 --rate 400 --duration 10
    .venv/bin/python bench/fanout.py ... --profile /tmp/server.prof   # cProfile of the server

`bench/idle_connections.py` reuses the PostgreSQL, server and client helpers defined here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import itertools
import json
import math
import os
import resource
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from dialtone.server.testing import (
    ApiClient,
    TestUser,
    add_member,
    create_channel,
    free_port,
    register_user,
)

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
ADMIN_TOKEN = "bench-admin-token-" + "a" * 32
PEPPER = "bench-username-pepper-" + "p" * 32
CLK = time.monotonic_ns  # CLOCK_MONOTONIC: one clock for senders and receivers alike


# -- PostgreSQL ---------------------------------------------------------------------------------


class Postgres:
    """A throwaway PostgreSQL with production durability (fsync, synchronous commit).

    Args:
        max_connections: The server's connection limit.
    """

    def __init__(self, *, max_connections: int = 100, extra: Sequence[str] = ()) -> None:
        bins = [b for b in PG_BIN_CANDIDATES if (b / "initdb").exists()]
        if not bins:
            sys.exit("bench needs PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = bins[0]
        self.root = Path(tempfile.mkdtemp(prefix="dialtone-bench-pg-"))
        self.port = free_port()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            shutil.chown(self.root, user=self.run_as)
        self._run(
            "initdb", "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        options = (
            f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c max_connections={max_connections} -c shared_buffers=256MB"
        )
        for setting in extra:
            options += f" -c {setting}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def cpu_seconds(self) -> float:
        """User+system CPU of this cluster's processes (postmaster and its children) so far."""
        postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        total = process_cpu(postmaster)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                stat = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == postmaster:
                    total += process_cpu(int(pid_dir.name))
            except (OSError, ValueError, IndexError):
                continue
        return total

    def stop(self) -> None:
        """Stop the cluster and delete its files."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


# -- server -------------------------------------------------------------------------------------


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's open-file limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    if hard != resource.RLIM_INFINITY and target > hard:
        if os.geteuid() == 0:
            hard = target
        else:
            target = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Server:
    """`python -m dialtone.server serve` as a child process.

    Args:
        db_url: The database.
        profile: Write a cProfile of the server to this file (at its graceful exit).
        env: Extra environment.
    """

    def __init__(
        self, db_url: str, *, profile: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/ws"
        self.log_path = Path(tempfile.mkdtemp(prefix="dialtone-bench-server-")) / "server.log"
        child_env = {
            **os.environ,
            "DIALTONE_LISTEN_ADDR": f"127.0.0.1:{self.port}",
            "DIALTONE_DB_URL": db_url,
            "DIALTONE_USERNAME_PEPPER": PEPPER,
            "DIALTONE_ADMIN_TOKEN": ADMIN_TOKEN,
            # Only registration is affected: the benchmark creates hundreds of accounts.
            "DIALTONE_PASSWORD_PRESET": "testing",
            "DIALTONE_RATE_USER": "100000",
            "DIALTONE_RATE_USER_BURST": "100000",
            "DIALTONE_RATE_IP": "100000",
            "DIALTONE_RATE_IP_BURST": "100000",
            "DIALTONE_AUTH_RATE": "1000000",
            "DIALTONE_LOG_LEVEL": "WARNING",
            "DIALTONE_DATA_DIR": tempfile.mkdtemp(prefix="dialtone-bench-data-"),
            **(env or {}),
        }
        command = [sys.executable]
        if profile:
            command += ["-m", "cProfile", "-o", profile]
        command += ["-m", "dialtone.server", "serve"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def wait_ready(self) -> None:
        """Wait for /v1/health."""
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    sys.exit(f"server exited; its log: {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.base_url + "/v1/health") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        sys.exit("server did not start")

    def cpu_seconds(self) -> float:
        """User+system CPU of the server process so far."""
        return process_cpu(self.process.pid)

    def peak_rss_mb(self) -> float:
        """Peak resident set size (VmHWM) of the server process, in MiB."""
        return _status_kib(self.process.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        """Current resident set size of the server process, in MiB."""
        return _status_kib(self.process.pid, "VmRSS") / 1024

    def stop(self) -> None:
        """SIGTERM (graceful: the profile, if any, is written), then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return 0.0


# -- accounts and channels over HTTP --------------------------------------------------------------


def b64(data: bytes) -> str:
    """base64url without padding (the wire's byte encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def register_many(api: ApiClient, count: int) -> list[TestUser]:
    """Register `count` users (real device keys: the server checks their signature)."""
    gate = asyncio.Semaphore(16)

    async def one() -> TestUser:
        async with gate:
            return await register_user(api, ADMIN_TOKEN)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def channel_with(api: ApiClient, members: Sequence[TestUser]) -> str:
    """Create a channel owned by the first user with everyone else as members.

    Returns:
        The channel id.
    """
    channel = await create_channel(api, members[0])
    gate = asyncio.Semaphore(8)

    async def add(user: TestUser) -> None:
        async with gate:
            await add_member(api, channel, members[0], user)

    await asyncio.gather(*(add(user) for user in members[1:]))
    return channel.channel_id


# -- a minimal WebSocket client -------------------------------------------------------------------

_PING = b'{"type":"ping"'
_NEW = b'{"type":"channel.message.new"'
_ACK = b'{"type":"channel.message.ack"'
_SEQ = b'"seq":'
_MSG_ID = b'"client_msg_id":"b'


def client_frame(text: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 requires clients to mask)."""
    mask = secrets.token_bytes(4)
    size = len(text)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    if not size:
        return header + mask
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return header + mask + (int.from_bytes(text, "big") ^ key).to_bytes(size, "big")


class RawClient(asyncio.Protocol):
    """One /v1/ws connection that counts message frames and measures their latency.

    Args:
        token: The session token.
        latencies: Where the latency of each received message (ns) is appended; None: not kept.
        host: The server's host (for the upgrade request).
    """

    def __init__(self, token: str, latencies: array[float] | None, host: str) -> None:
        self.token = token
        self.latencies = latencies
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.live = asyncio.get_running_loop().create_future()
        self.received = 0
        self.acks = 0
        self.last_seq = 0
        self.gaps = 0
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        transport.write(
            (
                f"GET /v1/ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {self.token}\r\n\r\n"
            ).encode()
        )

    def send_text(self, text: bytes) -> None:
        """Send a text frame."""
        assert self.transport is not None
        self.transport.write(client_frame(text))

    def data_received(self, data: bytes) -> None:
        # The hot path of the whole benchmark client: one pass over the frames of a read, one
        # clock reading per read (its frames all arrived together).
        now = CLK()
        buffer = self.buffer
        if buffer:
            buffer += data
        else:
            buffer = self.buffer = bytearray(data)
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:end]).split(b"\r\n", 1)[0]
            if b" 101 " not in status:
                self._fail(RuntimeError(f"upgrade refused: {status!r}"))
                return
            del buffer[: end + 4]
            self.upgraded = True
            self.send_text(b'{"type":"hello","protocol_versions":[1],"client":"bench","resume":[]}')
        latencies = self.latencies
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            first = buffer[offset]
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length = (buffer[offset + 2] << 8) | buffer[offset + 3]
                start = offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, offset + 2)
                start = offset + 10
            end = start + length
            if end > size:
                break
            offset = end
            if first == 0x81 and buffer.startswith(_NEW, start):
                self.received += 1
                at = buffer.find(_SEQ, start, end) + 6
                seq = int(buffer[at : buffer.find(b",", at, end)])
                if seq != self.last_seq + 1 and self.last_seq:
                    self.gaps += 1
                self.last_seq = seq
                if latencies is not None:
                    at = buffer.find(_MSG_ID, start, end) + 18
                    latencies.append((now - int(buffer[at : buffer.find(b"-", at, end)])) / 1e6)
            elif first & 0x0F == 0x1:
                self._text(buffer, start, end)
            elif first & 0x0F == 0x8:
                self.close_code = (
                    struct.unpack_from("!H", buffer, start)[0] if length >= 2 else 1005
                )
                if self.transport is not None:
                    self.transport.close()
            elif first & 0x0F == 0x9:
                assert self.transport is not None
                self.transport.write(client_frame(bytes(buffer[start:end]), opcode=0xA))
        if offset == size:
            self.buffer = bytearray()
        elif offset:
            del buffer[:offset]

    def _text(self, buffer: bytearray, start: int, end: int) -> None:
        if buffer.startswith(_ACK, start):
            self.acks += 1
        elif buffer.startswith(_PING, start):
            ping_id = bytes(buffer[buffer.find(b'"ping_id":', start, end) + 10 : end - 1])
            self.send_text(b'{"type":"pong","ping_id":' + ping_id + b"}")
        elif buffer.startswith(b'{"type":"resume.done"', start):
            if not self.live.done():
                self.live.set_result(None)
        elif buffer.startswith(b'{"type":"error"', start):
            print("server error:", bytes(buffer[start:end])[:200].decode(), file=sys.stderr)

    def _fail(self, exc: Exception) -> None:
        if not self.live.done():
            self.live.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.live.done():
            self.live.set_exception(ConnectionError(f"closed before resume.done ({exc})"))


async def connect_all(
    port: int,
    tokens: Sequence[str],
    make: Callable[[str], RawClient],
    *,
    parallel: int = 64,
    local_addrs: Sequence[str] = ("127.0.0.1",),
) -> list[RawClient]:
    """Open one raw client per token, `parallel` handshakes at a time.

    Args:
        port: The server port.
        tokens: Session tokens (repeat one for several connections of a session).
        make: Builds the protocol object of a token.
        parallel: Handshakes in flight at once.
        local_addrs: Source addresses to spread connections over (each has its own ports).

    Returns:
        The live clients, in the order of `tokens`.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one(index: int, token: str) -> RawClient:
        async with gate:
            client = make(token)
            source = (local_addrs[index % len(local_addrs)], 0)
            await loop.create_connection(lambda: client, "127.0.0.1", port, local_addr=source)
            await asyncio.wait_for(client.live, 60)
            return client

    return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens))))


# -- the benchmark --------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


async def send_load(
    senders: Sequence[RawClient], channel_id: str, rate: float, duration: float, size: int
) -> int:
    """Send `rate` messages per second, spread evenly over the senders, for `duration` seconds.

    Returns:
        How many messages were sent.
    """
    prefix = (
        b'{"type":"channel.message.send","channel_id":"'
        + channel_id.encode()
        + b'","client_msg_id":"b'
    )
    suffix = (
        b'","key_epoch":1,"sealed_body":"'
        + b64(secrets.token_bytes(size)).encode()
        + b'","sealed_sender_name":"'
        + b64(secrets.token_bytes(24)).encode()
        + b'","signature":"'
        + b64(secrets.token_bytes(64)).encode()
        + b'"}'
    )
    interval = 1.0 / rate
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    total = int(rate * duration)
    while sent < total:
        due = start + sent * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # Catch up in a burst if the loop fell behind, but never skip a message.
        while sent < total and start + sent * interval <= loop.time():
            sender = senders[sent % len(senders)]
            msg_id = b"%d-%d" % (CLK(), sent)
            sender.send_text(prefix + msg_id + suffix)
            sent += 1
    return sent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one configuration and return the result line's fields."""
    raise_fd_limit(args.members * 2 + 1024)
    postgres = Postgres(extra=args.pg)
    servers: list[Server] = []
    try:
        # Replicas share the database; members are spread over them (senders too), so with
        # two replicas most deliveries cross from one to the other through LISTEN/NOTIFY.
        for index in range(args.replicas):
            servers.append(Server(postgres.url, profile=args.profile if index == 0 else None))
        await asyncio.gather(*(server.wait_ready() for server in servers))
        server = servers[0]
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, server.base_url)
            users = await register_many(api, args.members)
            channel_id = await channel_with(api, users)
        latencies: array[float] = array("d")
        per_replica = [
            await connect_all(
                replica.port,
                [u.token for u in users[index :: len(servers)]],
                lambda token: RawClient(token, latencies, "127.0.0.1"),
            )
            for index, replica in enumerate(servers)
        ]
        # Interleaved, so that the senders (the first S) are spread over the replicas.
        clients = [c for group in itertools.zip_longest(*per_replica) for c in group if c]
        senders = clients[: args.senders]
        # Warm up (first-use costs: statement caches, JIT-free paths) and let presence settle.
        await send_load(senders, channel_id, max(10.0, args.senders), 1.0, args.bytes)
        await _settle(clients, within=10)
        # Keep the client's own collector pauses out of the measured latencies.
        gc.collect()
        gc.freeze()
        before = {c: c.received for c in clients}
        del latencies[:]
        for client in clients:
            client.gaps = 0
        cpu_before = sum(s.cpu_seconds() for s in servers)
        pg_before = postgres.cpu_seconds()
        client_before = _own_cpu()
        machine_before = cpu_times()
        started = time.monotonic()
        sent = await send_load(senders, channel_id, args.rate, args.duration, args.bytes)
        expected = sent * (args.members - 1)
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if sum(c.received - before[c] for c in clients) >= expected:
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        received = sum(c.received - before[c] for c in clients)
        cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
        pg_cpu = postgres.cpu_seconds() - pg_before
        client_cpu = _own_cpu() - client_before
        machine_after = cpu_times()
        ordered = sorted(latencies)
        result = {
            "M": args.members,
            "S": args.senders,
            "R": args.rate,
            "D": args.duration,
            "B": args.bytes,
            "sent": sent,
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "delivered_per_s": round(received / elapsed, 1),
            "lat_p50_ms": round(percentile(ordered, 0.50), 2),
            "lat_p95_ms": round(percentile(ordered, 0.95), 2),
            "lat_p99_ms": round(percentile(ordered, 0.99), 2),
            "lat_max_ms": round(ordered[-1], 2) if ordered else 0.0,
            "server_cpu_s": round(cpu, 2),
            "server_peak_rss_mb": round(max(s.peak_rss_mb() for s in servers), 1),
        }
        # Senders skip their own messages (acked instead), so only pure listeners are checked.
        gaps = sum(c.gaps for c in clients[args.senders :])
        print(
            f"# postgres_cpu_s={pg_cpu:.2f} client_cpu_s={client_cpu:.2f} gaps={gaps} "
            f"acks={sum(c.acks for c in senders)} load={os.getloadavg()[0]:.1f} "
            f"idle={share(machine_before, machine_after, 3):.0f}% "
            f"steal={share(machine_before, machine_after, 7):.0f}% "
            f"replicas={len(servers)} elapsed_s={elapsed:.2f}",
            file=sys.stderr,
        )
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        return result
    finally:
        for server in servers:
            server.stop()
        postgres.stop()


def cpu_times() -> list[int]:
    """The machine's aggregate CPU counters (user, nice, system, idle, iowait, irq, softirq,
    steal) from /proc/stat."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def share(before: list[int], after: list[int], index: int) -> float:
    """Percentage of machine time spent in counter `index` between two `cpu_times`."""
    deltas = [b - a for a, b in zip(before, after, strict=True)]
    return 100.0 * deltas[index] / max(1, sum(deltas))


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _settle(clients: Sequence[RawClient], within: float) -> None:
    """Wait until the warm-up messages have all arrived (so the measured window starts clean)."""
    deadline = time.monotonic() + within
    last = -1
    while time.monotonic() < deadline:
        total = sum(c.received for c in clients)
        if total == last:
            return
        last = total
        await asyncio.sleep(0.5)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", "-M", type=int, default=100, help="members connected (M)")
    parser.add_argument("--senders", "-S", type=int, default=10, help="members sending (S)")
    parser.add_argument(
        "--rate", "-R", type=float, default=100.0, help="messages/s, all senders (R)"
    )
    parser.add_argument("--duration", "-D", type=float, default=10.0, help="seconds of sending (D)")
    parser.add_argument("--bytes", "-B", type=int, default=200, help="sealed body size (B)")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--replicas", type=int, default=1, help="server processes on the one database"
    )
    parser.add_argument("--profile", help="write a cProfile of the (first) server to this file")
    parser.add_argument(
        "--pg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra PostgreSQL setting (diagnosis only, e.g. fsync=off: not for reported figures)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.senders <= args.members:
        parser.error("need 1 <= S <= M")
    if args.members < 2:
        parser.error("need M >= 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result))
    if args.profile:
        import pstats

        stats = pstats.Stats(args.profile, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
