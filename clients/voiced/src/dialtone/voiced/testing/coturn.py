"""A loopback coturn TURN server with REST (ephemeral) credentials, for tests and benchmarks.

The credentials follow the TURN REST scheme a Dialtone server hands out: the username is
``"<unix expiry>:<user id>"`` and the password ``base64(HMAC-SHA1(secret, username))``. coturn
listens and relays on 127.0.0.1 only, with ``--allow-loopback-peers`` (without it a relay to a
loopback peer never connects).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import random
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from dialtone.wire.common import IceServer

__all__ = ["Coturn", "private_coturn", "turn_rest_credentials"]

_START_TIMEOUT: Final = 10.0
_STUN_MAGIC: Final = 0x2112A442
_RELAY_PORTS: Final = 64


def turn_rest_credentials(secret: str, user_id: str, ttl: int = 3600) -> tuple[str, str]:
    """TURN REST credentials.

    Args:
        secret: coturn's ``static-auth-secret``.
        user_id: Who they are for.
        ttl: Seconds until they expire.

    Returns:
        ``(username, password)``.
    """
    username = f"{int(time.time()) + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stun_answers(port: int, timeout: float) -> bool:
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, _STUN_MAGIC) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[8:20] == transaction


class Coturn:
    """A running coturn (see `private_coturn`).

    Args:
        port: Its UDP/TCP listening port on 127.0.0.1.
        secret: Its REST secret.
        process: The process.
    """

    def __init__(self, port: int, secret: str, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.secret = secret
        self.process = process

    @property
    def url(self) -> str:
        """The TURN URL (UDP)."""
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def ice_server(self, user_id: str, ttl: int = 3600) -> IceServer:
        """An ``ice.config`` entry with fresh credentials.

        Args:
            user_id: Who they are for.
            ttl: Seconds until they expire.

        Returns:
            The server.
        """
        username, password = turn_rest_credentials(self.secret, user_id, ttl)
        return IceServer(urls=(self.url,), username=username, credential=password)


@contextlib.contextmanager
def private_coturn() -> Iterator[Coturn]:
    """Run coturn on loopback for the ``with`` block.

    Yields:
        The server.

    Raises:
        RuntimeError: If it does not answer STUN within 10 s.
    """
    port = _free_udp_port()
    # A random relay range so that two runs on one machine are unlikely to collide.
    low = random.randrange(49_152, 65_000 - _RELAY_PORTS, 2)  # noqa: S311
    secret = secrets.token_hex(16)
    directory = Path(tempfile.mkdtemp(prefix="dtturn-"))
    log = (directory / "turnserver.log").open("wb")
    process = subprocess.Popen(
        [
            "turnserver",
            "-n",
            "--no-tls",
            "--no-dtls",
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            "--relay-ip=127.0.0.1",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=dialtone.test",
            "--no-cli",
            "--allow-loopback-peers",
            f"--min-port={low}",
            f"--max-port={low + _RELAY_PORTS - 1}",
            f"--pidfile={directory / 'turnserver.pid'}",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not _stun_answers(port, 0.2):
            if process.poll() is not None:
                raise RuntimeError(
                    "turnserver exited: " + (directory / "turnserver.log").read_text()[-2000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError("turnserver did not answer STUN within 10 s")
        yield Coturn(port, secret, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
