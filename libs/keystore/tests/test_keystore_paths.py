"""Profile paths: XDG data directory, URL and username normalization, safe unique file names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialtone.keystore import (
    data_home,
    normalize_server_url,
    profile_filename,
    profile_path,
    profiles_dir,
)


def test_xdg_data_home_is_used_when_absolute() -> None:
    assert data_home({"XDG_DATA_HOME": "/x/data", "HOME": "/home/a"}) == Path("/x/data")


@pytest.mark.parametrize("value", [None, "", "relative/dir"])
def test_unset_empty_or_relative_xdg_data_home_falls_back_to_home(value: str | None) -> None:
    env = {"HOME": "/home/a"} if value is None else {"HOME": "/home/a", "XDG_DATA_HOME": value}
    assert data_home(env) == Path("/home/a/.local/share")


def test_profiles_live_under_dialtone_profiles() -> None:
    assert profiles_dir({"XDG_DATA_HOME": "/d"}) == Path("/d/dialtone/profiles")
    path = profile_path("https://chat.example.org", "alice", environ={"XDG_DATA_HOME": "/d"})
    assert path.parent == Path("/d/dialtone/profiles")
    assert profile_path("https://h", "u", directory=Path("/elsewhere")).parent == Path("/elsewhere")


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://Chat.Example.ORG/", "https://chat.example.org"),
        ("HTTPS://chat.example.org:443", "https://chat.example.org"),
        ("https://chat.example.org:8443/dialtone/", "https://chat.example.org:8443/dialtone"),
        ("http://localhost:80", "http://localhost"),
        ("wss://user:secret@host.example/?q=1#frag", "wss://host.example"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_server_url_normalization(url: str, normalized: str) -> None:
    assert normalize_server_url(url) == normalized


@pytest.mark.parametrize("url", ["chat.example.org", "ftp://h", "https://", "https://h:99999"])
def test_bad_server_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_server_url(url)


def test_same_server_and_user_spelled_differently_share_a_profile() -> None:
    assert profile_filename("https://Chat.example.org/", "Alice") == profile_filename(
        "https://chat.example.org:443", "alice"
    )


def test_different_servers_or_users_get_different_profiles() -> None:
    names = {
        profile_filename("https://chat.example.org", "alice"),
        profile_filename("https://chat.example.org", "bob"),
        profile_filename("https://chat.example.org:8443", "alice"),
        profile_filename("http://chat.example.org", "alice"),
        profile_filename("https://other.example.org", "alice"),
        # Readable parts collide ("a_b" twice); the digest keeps them apart.
        profile_filename("https://chat.example.org", "a/b"),
        profile_filename("https://chat.example.org", "a b"),
    }
    assert len(names) == 7


def test_profile_name_is_readable() -> None:
    name = profile_filename("https://chat.example.org:8443", "Alice")
    assert re.fullmatch(r"alice@chat\.example\.org_8443-[0-9a-f]{16}\.dtks", name)


def test_empty_username_is_rejected() -> None:
    with pytest.raises(ValueError, match="username"):
        profile_filename("https://h", "  ")


@settings(deadline=None)
@given(username=st.text(min_size=1, max_size=300).filter(lambda u: u.strip()))
def test_any_username_gives_a_safe_file_name(username: str) -> None:
    name = profile_filename("https://chat.example.org", username)
    assert re.fullmatch(r"[a-z0-9_-]+@[a-z0-9._-]+-[0-9a-f]{16}\.dtks", name)
    assert not name.startswith(".")
    assert len(name) <= 255
