"""The wheel ships every module: each package folder is listed in pyproject.toml.

The container image installs the project with pip, so a package missing from
`[tool.setuptools] packages` imports in a checkout and fails in the image.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _listed() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "mockserver").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    missing = sorted(found - _listed())
    assert not missing, f"add to [tool.setuptools] packages: {missing}"


def test_every_data_file_is_shipped() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = config["tool"]["setuptools"]["package-data"]
    unshipped = []
    for path in (ROOT / "mockserver").rglob("*"):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        package = ".".join(path.parent.relative_to(ROOT).parts)
        patterns = data.get(package, [])
        if not any(path.match(pattern) for pattern in patterns):
            unshipped.append(str(path.relative_to(ROOT)))
    assert not unshipped, f"add to [tool.setuptools.package-data]: {unshipped}"
