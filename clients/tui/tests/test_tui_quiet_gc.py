"""Full garbage collections wait for the user to pause: frozen heap, no automatic full
collections, a collection only when idle, everything given back at the end."""

from __future__ import annotations

import gc
import time

from dialtone.client.quiet_gc import QuietCollector


def test_full_collections_run_only_when_the_user_is_idle() -> None:
    before = gc.get_threshold()
    collector = QuietCollector(idle_after=0.05, every=0.0)
    try:
        collector.start()
        assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] >= 1_000_000
        assert gc.get_freeze_count() > 0
        collector.saw_input()
        assert not collector.tick()
        time.sleep(0.06)
        assert collector.tick()
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_collections_are_spaced_out() -> None:
    collector = QuietCollector(idle_after=0.0, every=3600.0)
    try:
        collector.start()
        assert not collector.tick()
    finally:
        collector.stop()


def test_a_collector_never_started_changes_nothing() -> None:
    before = gc.get_threshold()
    collector = QuietCollector(idle_after=0.0, every=0.0)
    assert not collector.tick()
    collector.stop()
    assert gc.get_threshold() == before
