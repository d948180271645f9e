"""End to end in real terminals: a real server process, two `dialtone` processes in tmux, each user
registering through the screens with an invite, then exchanging messages each sees decrypted,
while the server's database holds none of the text. And `make run` (tools/run-local) as a
newcomer would try it: server on the embedded database, TUI with the invite filled in, and both
stopped by Ctrl+Q.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import aiohttp
import pytest

from dialtone.server.testing import (
    ApiClient,
    PostgresCluster,
    StartProcess,
    create_invite,
    free_port,
)

WAIT: Final = 60.0
RUN_LOCAL: Final = Path(__file__).parents[1] / "tools" / "run-local"
PASSWORD: Final = "correct horse battery"
PASSPHRASE: Final = "keystore passphrase"

pytestmark = pytest.mark.slow


class Terminal:
    """One tmux server (its own socket) running one program in a 120x40 terminal.

    Args:
        name: A unique socket name.
    """

    def __init__(self, name: str) -> None:
        self.socket = name

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        """Run `argv`; when it exits its status stays on screen (``EXITED <n>``)."""
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # COLUMNS/LINES inherited from the test process would override the pane's real size.
        command = (
            f"unset COLUMNS LINES; TERM=xterm-256color {assignments} {shlex.join(argv)}; "
            "echo EXITED $?; sleep 120"
        )
        self._tmux("new-session", "-d", "-s", "main", "-x", "120", "-y", "40", command)

    def type(self, text: str) -> None:
        """Type text literally."""
        self._tmux("send-keys", "-t", "main", "-l", text)

    def keys(self, *keys: str) -> None:
        """Press named keys (``Enter``, ``Tab``, ``C-q``)."""
        self._tmux("send-keys", "-t", "main", *keys)

    async def press(self, key: str) -> None:
        """Press a key that moves focus or changes screen, then pause as a person would.

        Keys typed in the same instant as a Tab still reach the widget that had the focus (Textual
        moves the focus once the Tab has bubbled up), so a test typing faster than anyone would
        see its text land in the wrong field.
        """
        self.keys(key)
        await asyncio.sleep(0.4)

    def screen(self) -> str:
        """What the terminal shows now."""
        return self._tmux("capture-pane", "-t", "main", "-p")

    async def shows(self, *fragments: str, within: float = WAIT) -> str:
        """Wait until every fragment is on screen; returns the screen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            screen = self.screen()
            if all(fragment in screen for fragment in fragments):
                return screen
            if loop.time() > deadline:
                raise AssertionError(f"{self.socket}: no {fragments} in {within} s:\n{screen}")
            await asyncio.sleep(0.2)

    def close(self) -> None:
        """Stop the tmux server and everything in it, and remove its socket."""
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30, check=False
        )
        base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp")
        (base / f"tmux-{os.getuid()}" / self.socket).unlink(missing_ok=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    assert shutil.which("tmux") is not None, "tmux is needed for the terminal test"
    opened: list[Terminal] = []
    try:
        yield opened
    finally:
        for terminal in opened:
            terminal.close()


async def sign_up(terminal: Terminal, name: str) -> None:
    await terminal.shows("Pick a server and your username")
    await terminal.press("Enter")  # the username is filled in (--user): no keystore, so register
    await terminal.shows("An invite from the server's admin creates your account.")
    for text, key in ((PASSWORD, "Tab"), (PASSWORD, "Tab"), (name, "Enter")):
        terminal.type(text)
        await terminal.press(key)
    await terminal.shows("Create your keystore")
    for text, key in ((PASSPHRASE, "Tab"), (PASSPHRASE, "Enter")):
        terminal.type(text)
        await terminal.press(key)
    await terminal.shows("● online", f"{name} ({name.lower()})")


async def test_two_dialtone_processes_in_terminals_chat_decrypted(
    server_process: StartProcess,
    http_session: aiohttp.ClientSession,
    terminals: list[Terminal],
    pg_cluster: PostgresCluster,
    db_name: str,
    tmp_path: Path,
) -> None:
    server = await server_process()
    admin_token = server.env["DIALTONE_ADMIN_TOKEN"]
    api = ApiClient(http_session, server.base_url)
    run = uuid.uuid4().hex[:8]
    users = {}
    for name in ("Alice", "Bob"):
        terminal = Terminal(f"dialtone-e2e-{run}-{name.lower()}")
        terminals.append(terminal)
        invite = await create_invite(api, admin_token)
        argv = [
            sys.executable,
            "-m",
            "dialtone.client",
            "--server",
            server.base_url,
            "--user",
            name.lower(),
            f"--invite={invite}",  # a token may start with "-"
        ]
        terminal.start(argv, {"DIALTONE_KEYSTORE_DIR": str(tmp_path / name.lower())})
        users[name] = terminal
    alice, bob = users["Alice"], users["Bob"]
    await asyncio.gather(sign_up(alice, "Alice"), sign_up(bob, "Bob"))

    alice.type("/channel create duo bob")
    await alice.press("Enter")
    await alice.shows("created #duo with bob")
    await bob.shows("#duo")

    bob.type("hi alice, from a real terminal")
    await bob.press("Enter")
    await alice.shows("Bob  hi alice, from a real terminal")
    alice.type("hello bob, decrypted here")
    await alice.press("Enter")
    await bob.shows("Alice  hello bob, decrypted here")
    await bob.shows("Bob  hi alice, from a real terminal")

    for terminal in (alice, bob):
        terminal.keys("C-q")
    await asyncio.gather(alice.shows("EXITED 0"), bob.shows("EXITED 0"))

    dump = pg_cluster.pg_dump(db_name)
    for plaintext in ("real terminal", "decrypted here", "duo"):
        assert plaintext not in dump


def _processes_mentioning(fragment: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in text and "tmux" not in text:
            found.append(text)
    return found


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _dev_state(dev: Path) -> dict[str, bool]:
    return {
        "pgdata": (dev / "server" / "pgdata").is_dir(),
        "keystores": (dev / "client").is_dir(),
        "pidfile": (dev / "server.pid").exists(),
    }


async def test_make_run_starts_a_server_opens_the_tui_with_an_invite_and_stops_both(
    terminals: list[Terminal], tmp_path: Path
) -> None:
    dev = tmp_path / "dev"
    port = free_port()
    terminal = Terminal(f"dialtone-e2e-{uuid.uuid4().hex[:8]}-make-run")
    terminals.append(terminal)
    terminal.start(
        [str(RUN_LOCAL)],
        {"DIALTONE_DEV_DIR": str(dev), "DIALTONE_PORT": str(port), "DIALTONE_RUN_PAUSE": "0"},
    )
    try:
        # The first run creates the embedded database: slow on a busy machine.
        await terminal.shows(
            "Pick a server and your username", f"http://127.0.0.1:{port}", within=180
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nserver log:\n{_tail(dev / 'server.log')}") from None
    terminal.type("newbie")
    await terminal.press("Enter")
    await terminal.shows("An invite from the server's admin creates your account.")
    invite_line = next(line for line in terminal.screen().splitlines() if "Invite " in line)
    assert invite_line.split("▊")[1].strip(" ▎")  # filled in by make run
    for text, key in ((PASSWORD, "Tab"), (PASSWORD, "Tab"), ("Newbie", "Enter")):
        terminal.type(text)
        await terminal.press(key)
    await terminal.shows("Create your keystore")
    for text, key in ((PASSPHRASE, "Tab"), (PASSPHRASE, "Enter")):
        terminal.type(text)
        await terminal.press(key)
    await terminal.shows("● online", "Newbie (newbie)")
    terminal.type("/channel create lobby")
    await terminal.press("Enter")
    terminal.type("first words")
    await terminal.press("Enter")
    await terminal.shows("Newbie  first words")
    assert "(pending)" not in terminal.screen()

    terminal.keys("C-q")
    screen = await terminal.shows("EXITED 0")
    assert "run-local: stopping the server" in screen
    assert f"Dialtone is running at http://127.0.0.1:{port}" in screen
    assert _dev_state(dev) == {"pgdata": True, "keystores": True, "pidfile": False}
    assert _processes_mentioning(str(dev)) == []
