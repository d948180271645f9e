"""The workspace's packaging metadata agrees with itself.

Each package's version lives once, in `src/dialtone/<mod>/__init__.py` (`__version__`), and every
build (pip, `make test`'s editable installs, Pants) takes it from there. These tests catch drift
that would otherwise show only at release time: a BUILD file that pins a version of its own, a
sibling range that no longer admits the sibling's version, a third-party requirement missing from
the list that Pants builds the PEX binaries from.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement  # pants: no-infer-dep (ships with pytest)
from packaging.version import Version  # pants: no-infer-dep

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "libs/crypto": "crypto",
    "libs/wire": "wire",
    "libs/keystore": "keystore",
    "libs/ptt": "ptt",
    "services/server": "server",
    "clients/tui": "client",
    "clients/voiced": "voiced",
}
VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project(folder: str) -> dict[str, object]:
    data = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())
    table = data["project"]
    assert isinstance(table, dict)
    return table


def requirements(folder: str) -> list[Requirement]:
    declared = project(folder).get("dependencies", [])
    assert isinstance(declared, list)
    return [Requirement(line) for line in declared]


def version_of(folder: str) -> Version:
    init = ROOT / folder / "src" / "dialtone" / PACKAGES[folder] / "__init__.py"
    match = VERSION_LINE.search(init.read_text())
    assert match, f"{init} has no __version__ = '...' line"
    return Version(match.group(1))


DIST_NAMES = {canonical(str(project(folder)["name"])): folder for folder in PACKAGES}


@pytest.mark.parametrize("folder", PACKAGES)
def test_version_is_read_from_the_package(folder: str) -> None:
    """pyproject.toml takes the version from __init__.__version__, which is a valid version."""
    table = project(folder)
    assert "version" not in table, "the version must live in __init__.py only"
    assert table.get("dynamic") == ["version"]
    hatch = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["tool"]["hatch"]
    assert hatch["version"]["path"] == f"src/dialtone/{PACKAGES[folder]}/__init__.py"
    version_of(folder)


@pytest.mark.parametrize("folder", PACKAGES)
def test_build_file_names_the_distribution_and_pins_no_version(folder: str) -> None:
    """Pants builds the dist with the package's own backend, under the pyproject's name."""
    build = (ROOT / folder / "BUILD").read_text()
    artifacts = re.findall(r"python_artifact\(([^)]*)\)", build)
    assert len(artifacts) == 1, f"{folder}/BUILD must declare one python_artifact"
    assert f'name="{project(folder)["name"]}"' in artifacts[0]
    assert "version" not in artifacts[0], "a version in BUILD would drift from __version__"
    assert "generate_setup=False" in build


@pytest.mark.parametrize("folder", PACKAGES)
def test_sibling_ranges_admit_the_siblings_current_version(folder: str) -> None:
    """A release that bumps a library also widens the ranges of the packages that use it."""
    for requirement in requirements(folder):
        sibling = DIST_NAMES.get(canonical(requirement.name))
        if sibling is None:
            continue
        assert requirement.specifier, f"{folder}: {requirement.name} needs a compatible range"
        version = version_of(sibling)
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{folder} requires {requirement}, but {sibling} is at {version}"
        )


@pytest.mark.parametrize("folder", PACKAGES)
def test_third_party_requirements_are_known_to_pants(folder: str) -> None:
    """Pants builds the PEX binaries from 3rdparty/python/requirements.txt alone."""
    listed = set()
    for line in (ROOT / "3rdparty" / "python" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            listed.add(canonical(Requirement(line).name))
    missing = [
        str(requirement)
        for requirement in requirements(folder)
        if canonical(requirement.name) not in DIST_NAMES
        and canonical(requirement.name) not in listed
    ]
    assert not missing, f"add to 3rdparty/python/requirements.txt: {missing}"
