"""The package's public surface: exports, the README example, and its independence."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dialtone.crypto

PACKAGE_ROOT = Path(__file__).parents[1]


def test_every_name_in_all_is_exported() -> None:
    assert len(set(dialtone.crypto.__all__)) == len(dialtone.crypto.__all__)
    for name in dialtone.crypto.__all__:
        assert hasattr(dialtone.crypto, name), name


def test_the_readme_example_runs() -> None:
    readme = (PACKAGE_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks, "the README has a python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README


def test_the_package_imports_no_other_dialtone_package() -> None:
    for path in (PACKAGE_ROOT / "src").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                if module.startswith("dialtone"):
                    assert module.startswith("dialtone.crypto"), f"{path}: imports {module}"
