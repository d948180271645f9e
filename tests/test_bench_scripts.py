"""Every benchmark script under bench/ still runs: each is started as `make bench` would, with the
smallest parameters, and must finish and print its figures.

Nothing here is timed or compared with a target (speed is measured by the scripts themselves, on
a quiet machine: docs/performance.md); this only keeps the scripts from rotting when the code they
drive changes. The scripts live in the checkout, not in a package, so this is a checkout test like
test_e2e_tui_terminals.py (`make test`, not Pants).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# script -> the smallest run that still goes through every stage of it
SMALL_RUNS: dict[str, list[str]] = {
    "crypto_bench.py": ["--seconds", "0.05"],
    "wire_bench.py": ["--rounds", "1", "--count", "200"],
    "keystore_bench.py": ["--runs", "1"],
    "fanout.py": ["-M", "4", "-S", "2", "-R", "10", "-D", "1", "--drain", "5"],
    "idle_connections.py": ["-N", "20", "--users", "4", "--group", "2", "--hold", "1"],
    "client_history.py": ["--messages", "60", "--runs", "1", "--senders", "1"],
    "tui_responsiveness.py": ["--seconds", "2"],
    # Exits 1 when a figure misses its target, which a loaded test machine may cause.
    "voice_latency.py": ["--bursts", "2", "--room-seconds", "0"],
}
MAY_MISS_TARGETS = {"voice_latency.py"}


def test_every_bench_script_has_a_small_run() -> None:
    assert sorted(SMALL_RUNS) == sorted(path.name for path in (ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_bench_script_runs(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *SMALL_RUNS[script]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    allowed = {0, 1} if script in MAY_MISS_TARGETS else {0}
    assert done.returncode in allowed, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    output = done.stdout.strip()
    assert output, done.stderr[-3000:]
    json_lines = [line for line in output.splitlines() if line.startswith("{")]
    for line in json_lines:
        json.loads(line)
