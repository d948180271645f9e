"""Files are 0600 and the directories the keystore creates are 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialtone.keystore import DeviceKeys, Keystore, ScryptParams, profile_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(
    params=[0o000, 0o022, 0o077, 0o277], ids=["umask000", "umask022", "umask077", "umask277"]
)
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    # The umask is process-wide; tests run one at a time in this process, and it is restored.
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_profile_file_0600_in_0700_directories_under_xdg_data_home(
    tmp_path: Path, umask: int, cheap_params: ScryptParams, device_keys: DeviceKeys
) -> None:
    data_home = tmp_path / "xdg-data"
    path = profile_path(
        "https://chat.example.org", "alice", environ={"XDG_DATA_HOME": str(data_home)}
    )
    assert path.parent == data_home / "dialtone" / "profiles"

    with Keystore.create(path, "pw", params=cheap_params, device_keys=device_keys) as store:
        store.save()
        store.export_device_keys(tmp_path / "backup.dtkx", "backup pw", params=cheap_params)

    assert mode(path) == 0o600
    assert mode(path.with_name(path.name + ".lock")) == 0o600
    assert mode(tmp_path / "backup.dtkx") == 0o600
    for directory in (data_home, data_home / "dialtone", data_home / "dialtone" / "profiles"):
        assert mode(directory) == 0o700, directory


def test_save_restores_0600_after_a_chmod(store_path: Path, cheap_params: ScryptParams) -> None:
    store = Keystore.create(store_path, "pw", params=cheap_params)
    os.chmod(store_path, 0o644)
    store.save()
    store.close()
    assert mode(store_path) == 0o600


def test_existing_parent_directory_mode_is_left_alone(
    tmp_path: Path, cheap_params: ScryptParams
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)  # noqa: S103 - a world-readable parent is the point of this test
    Keystore.create(shared / "store.dtks", "pw", params=cheap_params).close()
    assert mode(shared) == 0o755
    assert mode(shared / "store.dtks") == 0o600
